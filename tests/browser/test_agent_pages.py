"""What node agents add to the pages, in Chromium on the real lab with a real agent on every node
(`manage.py agent`, each on its node's daemon): a container killed on a worker shown ended within a
second of Docker, health marks and the check's output, "OOM killed",
CPU and memory bars per task and per node, the agent marks and their summary, the task panel's
sparklines; and an agent killed: its node's mark goes within the agent TTL and the summary says so."""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.agentdash import start_agent
from tests.browser.axe import assert_accessible
from tests.browser.conftest import Dashboard, follows_docker, signed_in
from tests.browser.test_grid import RUNNING, service
from tests.browser.wall_helpers import token_of, wall
from tests.lab import Lab, Swarm, stop_process

TOKEN = secrets.token_urlsafe(32)
STATS_EVERY = 1  # seconds: samples and usage frames; an agent gone counts as gone after 15 s (the floor)
AGENT_GONE = 15 + 10  # that floor, and the expiry's own pace
NODES = (1, 2, 3)


@pytest.fixture(scope="module")
def agent_dashboard(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard of the lab with node agents admitted (its token) and a sample every second."""
    d = Dashboard(
        lab.docker_host, tmp_path_factory.mktemp("agent-dashboard"), AGENT_TOKEN=TOKEN,
        AGENT_STATS_EVERY=str(STATS_EVERY),
    )  # fmt: skip
    d.start()
    yield d
    d.stop()
    assert TOKEN not in d.log.read_text(), "the dashboard logged the agents' token"


@pytest.fixture(scope="module")
def agents(lab: Lab, agent_dashboard: Dashboard, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Any]]:
    """`manage.py agent` for every lab node, each on its own node's daemon, dialling the dashboard."""
    folder = tmp_path_factory.mktemp("agents")
    url = agent_dashboard.url.replace("http://", "ws://")
    procs = {n: start_agent(f"unix://{lab.sock(n)}", url, folder / f"agent-{n}.log", token=TOKEN) for n in NODES}
    yield procs
    for proc in procs.values():
        stop_process(proc)


@pytest.fixture
async def agent_page(browser: Any, agent_dashboard: Dashboard, agents: dict[int, Any]) -> AsyncIterator[Any]:
    async with signed_in(browser, agent_dashboard, "viewer") as pg:
        await pg.wait_for_function(
            "(n) => [...window.swarm.nodes.values()].filter((x) => x.agent).length === n", arg=len(NODES), timeout=30000
        )
        yield pg


ON = {n: ("--constraint", f"node.hostname==swarm-n{n}") for n in NODES}
BOX = '#grid .task[data-service-id="{sid}"]'


async def open_panel(page: Any, task_id: str) -> Any:
    await page.click(f'#grid [data-task-id="{task_id}"]')
    return await page.wait_for_selector(f'#panel .task-panel[data-task-id="{task_id}"]', timeout=10000)


async def test_it_marks_an_unhealthy_task_on_a_worker_and_shows_its_checks_output(
    swarm: Swarm, agent_page: Any
) -> None:
    _, sid = await service(swarm, "sick", extra=(
        *ON[2], "--health-cmd", "echo disk-is-full-$((6*7)); exit 1", "--health-interval", "1s",
        "--health-retries", "1", "--restart-delay", "30s",
    ))  # fmt: skip
    # the mark reads without colour: a shape, with its name for a screen reader
    mark = await agent_page.wait_for_selector(f"{BOX.format(sid=sid)} .hm-unhealthy", timeout=30000)
    assert await mark.get_attribute("aria-label") == "health: unhealthy"
    assert (await mark.text_content()) == "⚠"
    box = await mark.evaluate_handle("(m) => m.closest('.task')")
    task_id = await box.get_attribute("data-task-id")
    panel = await open_panel(agent_page, task_id)
    health = await panel.wait_for_selector(".health", timeout=10000)
    text = await health.text_content()
    assert "unhealthy" in text and "disk-is-full-42" in text, text
    assert "unknown here" not in text


async def test_it_shows_a_container_killed_on_a_worker_ended_within_a_second_of_docker(
    lab: Lab, swarm: Swarm, agent_page: Any
) -> None:
    """A manager's /events never says a worker's container died: its agent does, at once, and the
    dashboard re-lists that service (the production reconcile would take up to its period)."""
    name, sid = await service(swarm, "victim", extra=ON[2])
    await follows_docker(agent_page, lambda: swarm.running(name) == 1, RUNNING, [sid, 1], what="the victim running")
    task = next(t for t in await asyncio.to_thread(swarm.tasks, name) if t["Status"]["State"] == "running")
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    await asyncio.to_thread(lab.docker, "kill", container, node=2)  # through the worker's own daemon

    def ended_in_docker() -> bool:
        return bool(lab.api(f"/tasks/{task['ID']}")["Status"]["State"] != "running")

    lag = await follows_docker(
        agent_page, ended_in_docker, "(id) => (window.swarm.tasks.get(id) || {}).state !== 'running'", task["ID"],
        within=1.0, what="the killed container's task ended",
    )  # fmt: skip
    print(f"\nthe page showed the worker's kill {lag:+.2f} s after Docker's manager")


async def test_it_says_oom_killed_for_a_task_over_its_memory_limit(swarm: Swarm, agent_page: Any) -> None:
    # the allocation waits a second: a process killed the instant it starts can end before
    # containerd watches the container's OOM events (then Docker says 137 only)
    _, sid = await service(
        swarm, "hog", command=("sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1"),
        extra=(*ON[3], "--limit-memory", "8M", "--restart-condition", "none"),
    )  # fmt: skip
    box = await agent_page.wait_for_selector(f'{BOX.format(sid=sid)}[data-state="failed"] .err', timeout=30000)
    assert await box.get_attribute("title") == "OOM killed"
    task = await box.evaluate_handle("(e) => e.closest('.task')")
    assert "· OOM killed" in (await task.get_attribute("title"))
    panel = await open_panel(agent_page, await task.get_attribute("data-task-id"))
    error = await panel.wait_for_selector(".error-text.oom", timeout=10000)
    assert (await error.text_content()).startswith("OOM killed")


WALL = """(sid) => ({
  mode: window.wall && window.wall.mode,
  agents: document.getElementById("w-agents").textContent,
  tags: document.querySelectorAll(".tile .tag.agent").length,
  tileBars: document.querySelectorAll(".tile .node-usage:not([hidden])").length,
  boxes: [...document.querySelectorAll(`.box[data-service-id="${sid}"]`)].map((b) => ({
    healthy: Boolean(b.querySelector(".hm-healthy")), bars: Boolean(b.querySelector(".use:not([hidden])")) })),
})"""


async def test_the_wall_shows_health_marks_bars_and_its_agents(
    browser: Any, swarm: Swarm, agent_dashboard: Dashboard, agents: dict[int, Any]
) -> None:
    _, sid = await service(swarm, "fine", mode="global", extra=(
        "--health-cmd", "true", "--health-interval", "1s", "--reserve-memory", "8M",
    ))  # fmt: skip
    token = await asyncio.to_thread(token_of, agent_dashboard)
    async with wall(browser, agent_dashboard.url, query=f"?kiosk={token}") as page:
        ready = (
            f"(sid) => {{ const w = ({WALL})(sid); return w.boxes.length === {len(NODES)} && w.tags === {len(NODES)}"
        )
        ready += " && w.tileBars >= 1 && w.boxes.every((b) => b.healthy && b.bars); }"
        await page.wait_for_function(ready, arg=sid, timeout=30000)
        shown = await page.evaluate(WALL, sid)
        assert shown["mode"] == "full" and shown["agents"] == "agents 3/3", shown


BARS = """(sid) => [...document.querySelectorAll(`#grid .task[data-service-id="${sid}"]`)].map((b) => {
  const use = b.querySelector(".use");
  return { node: b.dataset.nodeId, shown: Boolean(use && !use.hidden), title: use ? use.title : "",
    mem: use && !use.hidden ? parseFloat(use.querySelector(".ubar.mem > span").style.width) : 0 };
})"""
NODE_BARS = """() => [...document.querySelectorAll("#grid section.node[data-node-id]:not(.unassigned)")].map((s) => ({
  node: s.dataset.nodeId, agent: Boolean(s.querySelector(".badge.agent")),
  cpu: s.querySelector(".node-usage:not([hidden]) .nu-cpu")?.title || "",
  mem: s.querySelector(".node-usage:not([hidden]) .nu-mem")?.title || "",
  reqShown: Boolean(s.querySelector(".node-usage .nu-mem .req:not([hidden])")),
}))"""


async def test_bars_and_agent_marks_show_for_every_node_and_go_with_a_killed_agent(
    lab: Lab, swarm: Swarm, agent_page: Any, agents: dict[int, subprocess.Popen[bytes]]
) -> None:
    _, sid = await service(swarm, "used", mode="global", extra=("--reserve-memory", "16M", "--limit-memory", "64M"))
    ids = await asyncio.to_thread(lab.node_ids)

    await agent_page.wait_for_function(f"(sid) => ({BARS})(sid).length === {len(NODES)} && ({BARS})(sid).every("
                                       "(r) => r.shown && r.mem > 0)", arg=sid, timeout=30000)  # fmt: skip
    rows = await agent_page.evaluate(BARS, sid)
    assert {r["node"] for r in rows} == set(ids.values())
    assert all(re.search(r"memory [\d.]+ [KMG]iB of its 64 MiB limit", r["title"]) for r in rows), rows
    # per node: the agent mark, what its running tasks requested, used and what it has
    await agent_page.wait_for_function(f"() => ({NODE_BARS})().every((n) => n.agent && n.cpu && n.reqShown)",
                                       timeout=15000)  # fmt: skip
    for n in await agent_page.evaluate(NODE_BARS):
        assert re.search(r"used of [\d.]+ [KMG]iB, 16 MiB requested", n["mem"]), n
        assert "no sample" not in n["cpu"], n
    assert await agent_page.text_content("#n-agents") == "agents on 3 of 3 nodes"
    await assert_accessible(agent_page, "the grid with health marks, bars and agent marks")

    # the panel: CPU and memory over the last 15 minutes, and more as samples come
    box = await agent_page.query_selector(f'{BOX.format(sid=sid)}[data-node-id="{ids["swarm-n1"]}"]')
    assert box
    panel = await open_panel(agent_page, await box.get_attribute("data-task-id"))
    points = "(p) => (p.querySelector('.spark.mem polyline')?.getAttribute('points') || '').split(' ').length"
    await agent_page.wait_for_function(f"() => ({points})(document.querySelector('#panel .task-panel')) >= 2",
                                       timeout=15000)  # fmt: skip
    first = await panel.evaluate(points)
    await agent_page.wait_for_function(f"(n) => ({points})(document.querySelector('#panel .task-panel')) > n",
                                       arg=first, timeout=10000)  # fmt: skip
    assert "limit 64 MiB" in await panel.eval_on_selector(".spark.mem", "(s) => s.getAttribute('aria-label')")
    await assert_accessible(agent_page, "the task panel with sparklines")

    # an agent killed: within the agent TTL its node's mark goes, its tasks' bars go, the summary says so
    gone = agents[3]
    gone.send_signal(signal.SIGKILL)
    await asyncio.to_thread(gone.wait, 10)
    n3 = ids["swarm-n3"]
    await agent_page.wait_for_function(
        "(id) => !document.querySelector(`#grid section.node[data-node-id='${id}'] .badge.agent`)",
        arg=n3, timeout=AGENT_GONE * 1000,
    )  # fmt: skip
    assert await agent_page.text_content("#n-agents") == "agents on 2 of 3 nodes"
    # the dashboard names its samples no more, and the page drops the last ones once 3 `every` old
    await agent_page.wait_for_function(
        f"([sid, id]) => ({BARS})(sid).some((r) => r.node === id && !r.shown)",
        arg=[sid, n3], timeout=(3 * STATS_EVERY + 2) * 1000,
    )  # fmt: skip
    rows = await agent_page.evaluate(BARS, sid)
    assert all(r["shown"] for r in rows if r["node"] != n3), rows
