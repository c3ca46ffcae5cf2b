"""The operator's pages in real Chromium against the real lab: the services x nodes matrix, a
service in full with its merged logs, a node's tasks, and problems first.

Each compares the page with a fresh listing from Docker, the way a person would check it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any
from urllib.parse import quote

from tests.browser.axe import assert_accessible
from tests.browser.conftest import USERS, Dashboard
from tests.lab import Lab, Swarm, wait_until

WAIT = 30_000  # ms: a change reaches a live page through an event or the next reconcile (8 s)

# service id -> node id -> running tasks, as the matrix shows them
MATRIX = """(sid) => Object.fromEntries([...document.querySelectorAll(
  `#matrix tr[data-service-id="${sid}"] td.cell`)].filter((c) => c.dataset.running !== "0")
  .map((c) => [c.dataset.nodeId, Number(c.dataset.running)]))"""


def running_per_node(swarm: Swarm, name: str) -> dict[str, int]:
    return dict(Counter(t["NodeID"] for t in swarm.tasks(name) if t["Status"]["State"] == "running"))


async def service(swarm: Swarm, *args: Any, **kwargs: Any) -> tuple[str, str]:
    name = await asyncio.to_thread(swarm.create_service, *args, **kwargs)
    return name, await asyncio.to_thread(swarm.service_id, name)


async def matrix_equals_docker(page: Any, swarm: Swarm, name: str, sid: str, replicas: int) -> None:
    await asyncio.to_thread(swarm.wait_running, name, replicas)
    truth = await asyncio.to_thread(running_per_node, swarm, name)
    await _wait_same(page, sid, truth)
    count = await page.text_content(f'#matrix tr[data-service-id="{sid}"] td.count')
    assert count == f"{replicas}/{replicas}"


async def _wait_same(page: Any, sid: str, truth: dict[str, int]) -> None:
    shown: dict[str, int] = {}
    for _ in range(WAIT // 100):
        shown = await page.evaluate(MATRIX, sid)
        if shown == truth:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the matrix shows {shown}, Docker says {truth}")


async def test_the_matrix_equals_dockers_tasks_per_node_and_follows_a_scale(
    lab: Lab, swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    name, sid = await service(swarm, "matrix", replicas=4, extra=("--label", "com.docker.stack.namespace=shop"))
    await asyncio.to_thread(swarm.wait_running, name, 4)
    await page.goto(f"{dashboard.url}/services/")
    await page.wait_for_function("window.swarmReady === true", timeout=WAIT)
    await matrix_equals_docker(page, swarm, name, sid, 4)
    # the columns are the nodes by hostname, and the service sits under its stack
    headers = await page.eval_on_selector_all("#matrix thead th[data-node-id]", "hs => hs.map(h => h.textContent)")
    assert [h.split()[0] for h in headers] == ["swarm-n1", "swarm-n2", "swarm-n3"]
    assert await page.get_attribute(f'#matrix tr[data-service-id="{sid}"] >> xpath=..', "data-stack") == "shop"
    await page.evaluate("window.__sameDocument = true")
    await asyncio.to_thread(swarm.scale, name, 7)
    await matrix_equals_docker(page, swarm, name, sid, 7)
    assert await page.evaluate("window.__sameDocument") is True  # live, not reloaded
    await assert_accessible(page, "the services matrix")


LOGGER = ("sh", "-c", 'i=0; while [ $i -lt 100000 ]; do echo "line $i"; i=$((i+1)); sleep 0.2; done')


async def test_a_service_page_shows_its_spec_and_merged_logs_from_every_node_in_order(
    lab: Lab, swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    extra = (
        "--limit-memory", "64M", "--reserve-cpu", "0.1", "--update-parallelism", "2", "--update-delay", "3s",
        "--constraint", "node.role!=manager", "--placement-pref", "spread=node.labels.zone",
        "--env", "DB_PASSWORD=hunter2-secret", "--label", "api.token=tok-clear-value",
    )  # fmt: skip
    name, sid = await service(swarm, "logger", mode="global", replicas=None, command=LOGGER, extra=extra)
    await asyncio.to_thread(swarm.wait_running, name, 2)
    await page.goto(f"{dashboard.url}/services/{sid}/")
    spec = await page.text_content("#service-spec")
    assert spec is not None
    assert "global" in spec and "memory 64 MiB" in spec and "cpus 0.1" in spec
    assert "node.role!=manager" in spec and "spread node.labels.zone" in spec and "parallelism 2" in spec
    assert "DB_PASSWORD=••••••" in spec and "api.token=••••••" in spec
    content = await page.content()
    assert "hunter2-secret" not in content and "tok-clear-value" not in content
    await page.wait_for_selector('#service-count[data-running="2"][data-desired="2"]', timeout=WAIT)
    # lines from both workers' tasks, in one list, by time
    lines = """() => [...document.querySelectorAll("#service-logs .log-line")]
      .filter((l) => l.querySelector(".who")?.textContent !== "dashboard")
      .map((l) => [l.querySelector(".ts").textContent, l.querySelector(".who").textContent])"""
    await page.wait_for_function(
        f"() => new Set(({lines})().map(([, who]) => who.split('@')[1])).size >= 2 && ({lines})().length >= 20",
        timeout=WAIT,
    )
    shown = await page.evaluate(lines)
    assert {who.split("@")[1] for _, who in shown} == {"swarm-n2", "swarm-n3"}
    assert all(who.startswith(f"{name}@") for _, who in shown)
    stamps = [ts for ts, _ in shown]
    assert stamps == sorted(stamps), "the merged lines are out of timestamp order"
    await assert_accessible(page, "a service's page")
    # the download: the same merge, as text, "ts name.slot@node stream text" a line
    text = await page.evaluate("async (url) => (await fetch(url)).text()", f"/services/{sid}/logs.txt")
    rows = [line.split(" ", 3) for line in text.splitlines()]
    assert rows and all(not r[0].startswith("#") for r in rows), text[:500]
    assert {r[1].split("@")[1] for r in rows} == {"swarm-n2", "swarm-n3"}
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    # the filter narrows to one node's lines
    await page.fill("#service-logs .logs-filter", "@swarm-n3")
    visible = await page.evaluate(
        "() => [...document.querySelectorAll('#service-logs .log-line:not([hidden]) .who')].map((w) => w.textContent)"
    )
    assert visible and all(w.endswith("@swarm-n3") for w in visible)
    # an update: its status shows live, and the spec is read again once it is done
    await page.evaluate("window.__sameDocument = true")
    await asyncio.to_thread(lab.docker, "service", "update", "--detach", "--env-add", "RELEASE=7", name)
    await page.wait_for_selector('#update-status[data-update-state="completed"]', timeout=WAIT)
    await page.wait_for_function("() => document.querySelector('#service-spec').textContent.includes('RELEASE=')")
    assert await page.evaluate("window.__sameDocument") is True


def tasks_on(lab: Lab, node_id: str) -> set[str]:
    active = {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
    tasks = lab.api("/tasks?filters=" + quote(json.dumps({"node": [node_id]}), safe=""))
    return {t["ID"] for t in tasks if t["DesiredState"] == "running" or t["Status"]["State"] in active}


async def test_a_node_page_lists_exactly_dockers_tasks_on_that_node(
    lab: Lab, swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    name, _ = await service(swarm, "placed", replicas=5)
    await asyncio.to_thread(swarm.wait_running, name, 5)
    n2 = lab.node_ids()["swarm-n2"]
    await page.goto(f"{dashboard.url}/nodes/")
    rows = await page.eval_on_selector_all("#nodes-table tbody tr", "rs => rs.map(r => r.dataset.nodeId)")
    assert sorted(rows) == sorted(lab.node_ids().values())
    await page.click(f'#nodes-table tr[data-node-id="{n2}"] a')
    await page.wait_for_url(f"**/nodes/{n2}/")
    facts = await page.text_content("#node-facts")
    assert facts is not None and "worker" in facts and "ready" in facts and "CPU" in facts
    shown: set[str] = set()
    truth: set[str] = set()
    for _ in range(WAIT // 200):
        truth = await asyncio.to_thread(tasks_on, lab, n2)
        shown = set(
            await page.eval_on_selector_all("#node-current tr[data-task-id]", "rs => rs.map(r => r.dataset.taskId)")
        )
        if shown == truth:
            break
        await asyncio.sleep(0.2)
    assert shown == truth and truth
    await assert_accessible(page, "a node's page")
    await page.goto(f"{dashboard.url}/nodes/")
    await assert_accessible(page, "the nodes")


async def test_problems_list_a_failing_a_pending_and_an_orphaned_task(
    lab: Lab, swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    await page.goto(f"{dashboard.url}/problems/")
    await page.wait_for_function("window.swarmReady === true", timeout=WAIT)
    failing, failing_id = await service(
        swarm, "crash", replicas=1, command=("sh", "-c", "echo boom; exit 3"), extra=("--restart-delay", "0s")
    )
    pending, pending_id = await service(swarm, "nowhere", replicas=1, extra=("--constraint", "node.labels.nope==yes"))
    stranded, stranded_id = await service(
        swarm, "stranded", replicas=1, extra=("--constraint", "node.hostname==swarm-n3")
    )
    await asyncio.to_thread(swarm.wait_running, stranded, 1)
    await asyncio.to_thread(swarm.kill_node, 3)
    await asyncio.to_thread(wait_until, lambda: lab.node_state("swarm-n3") == "down", timeout=30, what="n3 down")
    kinds = {
        "failing": failing_id,
        "pending": pending_id,
        "orphaned": stranded_id,
    }
    for kind, sid in kinds.items():
        await page.wait_for_selector(f'#problems li[data-kind="{kind}"][data-service-id="{sid}"]', timeout=WAIT)
    failing_text = await page.text_content(f'#problems li[data-kind="failing"][data-service-id="{failing_id}"]')
    assert failing_text is not None and "exit code 3" in failing_text
    pending_text = await page.text_content(f'#problems li[data-kind="pending"][data-service-id="{pending_id}"]')
    assert pending_text is not None and "no suitable node" in pending_text
    assert await page.is_visible(f'#problems li[data-kind="node-down"][data-node-id="{lab.node_ids()["swarm-n3"]}"]')
    # each is a link to what it is about
    href = await page.get_attribute(f'#problems li[data-kind="pending"][data-service-id="{pending_id}"] a', "href")
    assert href is not None and href.startswith("/tasks/")
    assert failing and pending  # names used by the swarm fixture's cleanup
    await assert_accessible(page, "the problems")
    # the bar counts them on every page, live: this page's bar was drawn before they came
    await page.wait_for_function(
        """() => {
            const count = document.querySelector('#nav-problems .count');
            const total = document.querySelector('#live h2 .muted');
            return count && total && count.textContent === total.textContent && Number(count.dataset.problems) >= 4;
        }""",
        timeout=WAIT,
    )
    api = await page.evaluate("async () => (await (await fetch('/api/problems')).json())")
    assert {p["kind"] for p in api["problems"]} >= {"failing", "pending", "orphaned", "node-down"}
    # and the grid has a strip of the newest, each a link, the rest behind "N more"
    await page.goto(f"{dashboard.url}/")
    await page.wait_for_selector("#problems-strip li a", timeout=WAIT)
    links = await page.eval_on_selector_all("#problems-strip li a", "as => as.map((a) => a.getAttribute('href'))")
    assert 1 <= len(links) <= 5 and all(href.startswith(("/services/", "/tasks/", "/nodes/")) for href in links)
    assert await page.get_attribute("#problems-strip > a", "href") == "/problems/"
    await assert_accessible(page, "the grid with its problems")


async def test_the_pages_work_under_the_real_csp_on_a_phone(
    lab: Lab, swarm: Swarm, browser: Any, dashboard: Dashboard
) -> None:
    name, sid = await service(swarm, "phone", replicas=2, command=LOGGER)
    await asyncio.to_thread(swarm.wait_running, name, 2)
    context = await browser.new_context(viewport={"width": 390, "height": 844})  # the CSP enforced
    page = await context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # signed in as login() does, without its probe: the CSP refuses a string evaluated as script
        await page.goto(f"{dashboard.url}/accounts/login/")
        await page.fill("#id_username", "viewer")
        await page.fill("#id_password", USERS["viewer"][0])
        await page.click("button[type=submit]")
        await page.wait_for_selector("#grid", timeout=WAIT)
        n1 = lab.node_ids()["swarm-n1"]
        for path, ready in (
            ("/services/", f'#matrix tr[data-service-id="{sid}"]'),
            (f"/services/{sid}/", "#service-logs .log-line .who"),
            ("/nodes/", "#nodes-table"),
            (f"/nodes/{n1}/", "#node-facts"),
            ("/problems/", "#live"),
        ):
            await page.goto(dashboard.url + path)
            await page.wait_for_selector(ready, timeout=WAIT)
            await page.wait_for_selector('#conn[data-conn="live"]', timeout=WAIT)  # its script runs: live
            # nothing wider than the phone but the boxes that scroll on their own (a wide matrix)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide on a 390px phone"
            assert await page.is_visible("#nav a[aria-current=page]")
        await page.keyboard.press("/")
        assert await page.evaluate("document.activeElement.id") == "filter"
    finally:
        await context.close()
    assert violations == [] and errors == []
