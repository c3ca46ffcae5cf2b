"""The live grid in real Chromium, against the real lab: what a person watching the page sees.

The dashboard reconciles every 8 s, as in production: a change that follows an event of the
manager must reach the page within EVENT_LAG of the manager showing it (follows_docker).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.browser.conftest import WATCH_ALARMS, Dashboard, alarms, conns, follows_docker, signed_in
from tests.lab import Lab, Swarm

BOXES = """(sid) => [...document.querySelectorAll(`#grid [data-service-id="${sid}"][data-task-id]`)]
  .map((e) => [e.dataset.taskId, e.dataset.nodeId, e.dataset.state])"""
COUNT = """([sid, state, n]) =>
  document.querySelectorAll(`#grid [data-service-id="${sid}"][data-state="${state}"]`).length === n"""
# the tasks Docker wants running that run: a task being stopped runs a moment longer, with desired state shutdown
RUNNING = """([sid, n]) => document.querySelectorAll(
  `#grid [data-service-id="${sid}"][data-state="running"][data-desired-state="running"]`).length === n"""


async def boxes(page: Any, sid: str) -> list[tuple[str, str, str]]:
    return sorted(tuple(b) for b in await page.evaluate(BOXES, sid))


async def wait_boxes(page: Any, sid: str, state: str, n: int, timeout: float = 15) -> None:
    await page.wait_for_function(COUNT, arg=[sid, state, n], timeout=timeout * 1000)


async def docker_tasks(swarm: Swarm, name: str) -> list[tuple[str, str, str]]:
    tasks = await asyncio.to_thread(swarm.tasks, name)
    return sorted((t["ID"], t["NodeID"], t["Status"]["State"]) for t in tasks)


async def service(swarm: Swarm, *args: Any, **kwargs: Any) -> tuple[str, str]:
    name = await asyncio.to_thread(swarm.create_service, *args, **kwargs)
    return name, await asyncio.to_thread(swarm.service_id, name)


async def follows_running(page: Any, swarm: Swarm, name: str, sid: str, n: int) -> float:
    """The page shows n tasks of the service running within EVENT_LAG of the manager."""
    return await follows_docker(
        page, lambda: swarm.running(name) == n, RUNNING, [sid, n], what=f"{n} running tasks of {name}"
    )


async def test_it_shows_the_nodes_and_every_task_where_docker_says_it_is(lab: Lab, swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "web", replicas=6)
    await follows_running(page, swarm, name, sid, 6)
    await wait_boxes(page, sid, "running", 6)
    assert await boxes(page, sid) == await docker_tasks(swarm, name)
    columns = await page.evaluate(
        "[...document.querySelectorAll('#grid section.node:not(.unassigned)')]"
        ".map(s => [s.dataset.nodeId, s.dataset.role])"
    )
    ids = lab.node_ids()
    assert columns == [[ids["swarm-n1"], "manager"], [ids["swarm-n2"], "worker"], [ids["swarm-n3"], "worker"]]
    assert await page.text_content("#grid section.node[data-role=manager] .badge.leader") == "★ leader"


async def test_it_follows_scaling_up_and_down_without_a_reload(swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "scaled", replicas=2)
    await wait_boxes(page, sid, "running", 2)
    await page.evaluate("window.__sameDocument = true")
    for replicas in (7, 3):
        await asyncio.to_thread(swarm.scale, name, replicas)
        await follows_running(page, swarm, name, sid, replicas)
        await page.wait_for_function(
            "([sid, n]) => document.querySelectorAll(`#grid [data-service-id='${sid}']`).length === n",
            arg=[sid, replicas],
            timeout=15000,
        )
        assert await boxes(page, sid) == await docker_tasks(swarm, name)
    assert await page.evaluate("window.__sameDocument") is True


# A hidden tab gets no animation frames. Headless Chromium never hides a page, so the page is told
# it is hidden the way a browser tells it, and animation frames asked for meanwhile never come.
HIDE = """() => {
  const raf = window.requestAnimationFrame.bind(window);
  window.__hidden = true;
  Object.defineProperty(document, "visibilityState", { configurable: true,
    get: () => (window.__hidden ? "hidden" : "visible") });
  window.requestAnimationFrame = (cb) => (window.__hidden ? 0 : raf(cb));
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => { window.__hidden = false; document.dispatchEvent(new Event("visibilitychange")); }"""


async def test_a_hidden_page_keeps_up_and_is_right_when_shown_again(swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "background", replicas=2)
    await wait_boxes(page, sid, "running", 2)
    await page.evaluate(HIDE)
    for replicas in (5, 3):
        await asyncio.to_thread(swarm.scale, name, replicas)
        await asyncio.to_thread(swarm.wait_running, name, replicas)
        # patches are applied while hidden (a few per second at most), not piled up for the return
        await wait_boxes(page, sid, "running", replicas)
        await page.wait_for_function(
            "([sid, n]) => document.querySelectorAll(`#grid [data-service-id='${sid}']`).length === n",
            arg=[sid, replicas],
            timeout=15000,
        )
        assert await boxes(page, sid) == await docker_tasks(swarm, name)
    await page.evaluate(SHOW)
    await asyncio.to_thread(swarm.scale, name, 1)
    await wait_boxes(page, sid, "running", 1)


async def test_it_shows_a_drained_node_and_its_tasks_moving_away(lab: Lab, swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "moving", replicas=3)
    await wait_boxes(page, sid, "running", 3)
    n2 = lab.node_ids()["swarm-n2"]
    await asyncio.to_thread(swarm.drain, "swarm-n2")
    await follows_docker(
        page,
        lambda: any(n["ID"] == n2 and n["Spec"]["Availability"] == "drain" for n in lab.api("/nodes")),
        "(node) => !!document.querySelector(`#grid section[data-node-id='${node}'][data-availability='drain']`)",
        n2,
        what="the drained node",
    )

    def moved() -> bool:
        tasks = swarm.tasks(name)
        return len(tasks) == 3 and all(t["NodeID"] != n2 and t["Status"]["State"] == "running" for t in tasks)

    await follows_docker(
        page,
        moved,
        """([sid, node, n]) => !document.querySelector(
            `#grid section[data-node-id='${node}'] [data-service-id='${sid}']`)
          && document.querySelectorAll(`#grid [data-service-id='${sid}'][data-state='running']`).length === n""",
        [sid, n2, 3],
        what="the tasks moved off the drained node",
    )
    assert await page.is_visible(f'#grid section[data-node-id="{n2}"] .badge.avail-drain')


async def test_it_shows_a_dead_node_down_with_its_tasks_orphaned(lab: Lab, swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "everywhere", mode="global")
    await wait_boxes(page, sid, "running", 3)
    n3 = lab.node_ids()["swarm-n3"]
    await asyncio.to_thread(swarm.kill_node, 3)
    # the node's own state, and what it means for its tasks, come with the manager's node event
    await follows_docker(
        page,
        lambda: lab.node_state("swarm-n3") == "down",
        """([node, sid]) => !!document.querySelector(`#grid section[data-node-id='${node}'][data-state='down']`)
          && !!document.querySelector(
            `#grid section[data-node-id='${node}'] [data-service-id='${sid}'][data-state='orphaned']`)""",
        [n3, sid],
        what="node down with its task orphaned",
    )
    await wait_boxes(page, sid, "running", 2)
    await asyncio.to_thread(swarm.restart_node, 3)
    await follows_docker(
        page,
        lambda: lab.node_state("swarm-n3") == "ready",
        "(node) => !!document.querySelector(`#grid section[data-node-id='${node}'][data-state='ready']`)",
        n3,
        what="node ready again",
    )
    await follows_running(page, swarm, name, sid, 3)


async def test_it_rides_out_a_server_restart_without_an_alarm_and_shows_the_truth(
    swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    """A planned restart (an upgrade) shorter than the stale bound: the page says it reconnects,
    quietly, and catches up with what happened meanwhile; no banner."""
    await page.evaluate(WATCH_ALARMS)
    await page.evaluate("window.__sameDocument = true")
    t0 = time.monotonic()
    # an upgrade's stop: what is asked of the page is to ride out a short absence, whatever ends the
    # old process (its own graceful shutdown is tested with the lease: tests/integration/test_scale_out.py)
    dashboard.stop(grace=3)
    try:
        await page.wait_for_selector('#conn[data-conn="reconnecting"]', timeout=5000)
        assert await page.is_hidden("#banner")
        name, sid = await service(swarm, "meanwhile", replicas=2)
    finally:
        dashboard.start()
    away = time.monotonic() - t0
    await wait_boxes(page, sid, "running", 2, timeout=20)
    await page.wait_for_selector('#conn[data-conn="live"]', timeout=5000)
    assert await boxes(page, sid) == await docker_tasks(swarm, name)
    assert await page.evaluate("window.__sameDocument") is True
    # the bound is three heartbeats (15 s) from the last frame, which came at most one heartbeat before
    assert away < 10, f"the restart took {away:.1f}s: too long for this test to mean anything"
    assert await alarms(page) == []
    assert "resuming" in await conns(page)  # it did lose the socket


async def test_it_says_so_when_the_server_stays_away_beyond_the_bound(
    swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    await page.evaluate(WATCH_ALARMS)
    t0 = time.monotonic()
    dashboard.stop()
    try:
        await page.wait_for_selector('#conn[data-conn="reconnecting"]', timeout=5000)
        await page.wait_for_selector("#banner", state="visible", timeout=20000)
        down_for = time.monotonic() - t0
        # 15 s (three heartbeats) from the last frame, which came at most a heartbeat before the stop
        assert 9 < down_for < 17, down_for
        assert "connection to the dashboard is down" in (await page.text_content("#banner") or "")
    finally:
        dashboard.start()
    await page.wait_for_selector('#conn[data-conn="live"]', timeout=20000)
    assert await page.is_hidden("#banner")


INJECTED = "document.querySelectorAll('img, svg, script:not([src]):not([type])').length"
HOSTILE = '<img src=x onerror="alert(document.domain)"><script>alert(1)</script>'


async def test_it_renders_hostile_labels_as_text(swarm: Swarm, page: Any, dashboard: Dashboard) -> None:
    elements_before = await page.evaluate(INJECTED)
    key = "<svg/onload=alert(3)>"  # label keys may not hold spaces
    _, sid = await service(swarm, "hostile", extra=("--label", f"note={HOSTILE}", "--label", f"{key}=x"))
    await wait_boxes(page, sid, "running", 1)  # arrived live, rendered by the page's script
    item = f'#services [data-service-id="{sid}"]'
    assert HOSTILE in (await page.get_attribute(item, "title") or "")
    assert f"{key}=x" in (await page.get_attribute(item, "title") or "")
    await page.reload()  # and rendered by the server
    await page.wait_for_function("window.swarmReady === true", timeout=15000)
    assert HOSTILE in (await page.get_attribute(item, "title") or "")
    await page.wait_for_timeout(500)  # an injected onerror handler would fire at once
    assert await page.evaluate(INJECTED) == elements_before
    assert page.watch.dialogs == []


COLUMNS = """() => [...document.querySelectorAll("#grid section.node:not(.unassigned)")].map((s) =>
  [s.dataset.nodeId, [...s.querySelectorAll("[data-task-id]")].map((b) => b.dataset.taskId).sort()])"""
SCROLL = "(x) => { const g = document.getElementById('grid'); g.scrollLeft = x < 0 ? g.scrollWidth : x; }"
HAS_BOXES = "(id) => document.querySelectorAll(`#grid section[data-node-id='${id}'] [data-task-id]`).length > 0"


async def test_a_large_grid_holds_boxes_only_for_the_columns_near_the_view(
    browser: Any, large_dashboard: Dashboard
) -> None:
    async with signed_in(browser, large_dashboard, "viewer") as page:
        cookie = next(c["value"] for c in await page.context.cookies() if c["name"] == "sessionid")
        truth = await asyncio.to_thread(large_dashboard.snapshot, cookie)
        shown: dict[str, list[str]] = {}
        for t in truth["tasks"]:
            if t["state"] not in ("shutdown", "complete", "remove"):
                shown.setdefault(t["node_id"], []).append(t["id"])
        columns = await page.evaluate(COLUMNS)
        assert len(columns) == 200  # every node has its column
        filled = [node for node, ids in columns if ids]
        assert 3 <= len(filled) <= 30, filled  # those in view of 1600 px and a screen either side
        assert await page.evaluate("document.querySelectorAll('#grid [data-task-id]').length") <= 30 * 25
        first, last = columns[0][0], columns[-1][0]
        assert columns[0][1] == sorted(shown[first])
        assert columns[-1][1] == []

        await page.evaluate(SCROLL, -1)  # to the far end
        await page.wait_for_function(HAS_BOXES, arg=last, timeout=10000)
        columns = await page.evaluate(COLUMNS)
        assert columns[-1][1] == sorted(shown[last])
        assert columns[0][1] == []  # far out of view: its boxes are gone
        assert sum(1 for _, ids in columns if ids) <= 30

        await page.evaluate(SCROLL, 0)  # and back
        await page.wait_for_function(HAS_BOXES, arg=first, timeout=10000)
        assert (await page.evaluate(COLUMNS))[0][1] == sorted(shown[first])
