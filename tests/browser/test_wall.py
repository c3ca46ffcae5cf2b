"""The wall screen in real Chromium: it fits any screen, never passes stale data off as live, and lasts."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.wall_soak import soak, wait_live
from tests.browser.conftest import (
    ROOT,
    WATCH_ALARMS,
    Dashboard,
    alarms,
    conns,
    follows_docker,
    login,
    simulated_dashboard,
)
from tests.browser.test_grid import service
from tests.lab import Lab, Swarm

SIZES = [(1280, 720), (1920, 1080), (3840, 2160)]
SHOTS = ROOT / "build" / "screenshots"
MIN_FONT_PX = 12  # dashboard.pages.wall.MIN_FONT_PX
STALE_SECONDS = 15  # WALL_STALE_SECONDS, the default the dashboards here run with
HEARTBEAT_SECONDS = 5  # SWARM_HEARTBEAT_SECONDS, likewise
RECONCILE_SECONDS = 8  # SWARM_RECONCILE_SECONDS, likewise

# what a person at the wall sees: does it fit, is every text legible, is anything cut off
MEASURE = """() => {
  const se = document.scrollingElement;
  const texts = [...document.querySelectorAll("body *")].filter((e) => e.getClientRects().length
    && [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()));
  let smallest = null;
  for (const e of texts) {
    const size = parseFloat(getComputedStyle(e).fontSize);
    const what = `${e.tagName}.${e.className}: ${e.textContent.slice(0, 30)}`;
    if (!smallest || size < smallest.size) smallest = { size, what };
  }
  const cut = [...document.querySelectorAll("#w-tiles .tile, #w-tiles .tile .body")]
    .filter((e) => e.scrollHeight > e.clientHeight || e.scrollWidth > e.clientWidth)
    .map((e) => e.closest(".tile").dataset.nodeId);
  const outside = [...document.querySelectorAll("#w-tiles .tile")].filter((t) => {
    const r = t.getBoundingClientRect();
    return r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight;
  }).length;
  return {
    scrollWidth: se.scrollWidth, scrollHeight: se.scrollHeight, innerWidth, innerHeight, smallest, cut, outside,
    controls: document.querySelectorAll("button, input, select, textarea, a[href]").length,
    density: document.body.dataset.density, pages: window.wall.pages, page: window.wall.page,
    shown: [...document.querySelectorAll("#w-tiles .tile")].map((t) => t.dataset.nodeId),
    model: [...window.swarm.nodes.keys()],
    boxes: document.querySelectorAll("#w-tiles [data-task-id]").length,
    running: document.querySelectorAll("#w-tiles [data-task-id][data-state='running']").length,
    runningHere: [...window.swarm.tasks.values()].filter((t) => t.state === "running"
      && document.querySelector(`#w-tiles .tile[data-node-id="${t.node_id}"]`)).length,
  };
}"""
PAGE_CHANGED = "(page) => window.wall.page !== page"
NO_PULSE = "document.querySelectorAll('.pulse-new, .pulse-change, .pulse-bad').length === 0"


@pytest.fixture(scope="session")
def kiosk_token(dashboard: Dashboard) -> str:
    return token_of(dashboard)


@pytest.fixture(scope="session")
def large_token(large_dashboard: Dashboard) -> str:
    return token_of(large_dashboard)


def token_of(dashboard: Dashboard) -> str:
    urls = dashboard.manage("kiosk", "create", f"wall-{uuid.uuid4().hex[:6]}", "--base-url", dashboard.url)
    wall_url = next(u for u in urls.split() if "/wall/?kiosk=" in u)
    return wall_url.split("kiosk=", 1)[1]


# every close of the page's sockets, with its code: what a server that stops really sends
RECORD_CLOSES = """(() => {
  window.__closes = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (e) => window.__closes.push(e.code));
    }
  };
})()"""


@contextlib.asynccontextmanager
async def wall(
    browser: Any, url: str, size: tuple[int, int] = (1280, 720), query: str = "", init_script: str = ""
) -> AsyncIterator[Any]:
    """A wall page, opened and live; no uncaught error may happen in it."""
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=True)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(f"{url}/wall/{query}")
        await wait_live(page, 30)
        yield page
    finally:
        await context.close()
    assert errors == [], f"uncaught errors in the wall: {errors}"


async def screenshot(page: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path))


async def check_fits(page: Any, shot: Path) -> dict[str, Any]:
    await page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=10000)
    await page.wait_for_function(NO_PULSE, timeout=15000)  # the picture of a screen at rest
    seen = await page.evaluate(MEASURE)
    await screenshot(page, shot)
    assert seen["scrollWidth"] <= seen["innerWidth"] and seen["scrollHeight"] <= seen["innerHeight"], seen
    assert seen["smallest"]["size"] >= MIN_FONT_PX, seen["smallest"]
    assert seen["cut"] == [] and seen["outside"] == 0, seen
    assert seen["controls"] == 0
    # every node has a tile, on this page or another, and this page shows its share
    assert sorted(n for p in seen["pages"] for n in p if n) == sorted(seen["model"])
    assert seen["shown"] == seen["pages"][seen["page"]]
    assert seen["running"] == seen["runningHere"]  # every running task of the page's nodes, as a box or a pip
    return dict(seen)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_it_fits_the_lab_swarm_on_every_screen(
    size: tuple[int, int], lab: Lab, swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    created = [await service(swarm, "web", replicas=6), await service(swarm, "api", replicas=2)]
    created.append(await service(swarm, "agent", mode="global"))
    names = [name for name, _ in created]
    async with wall(browser, dashboard.url, size, f"?kiosk={kiosk_token}") as page:
        # the picture is taken once every task runs, as the manager tells
        await follows_docker(
            page,
            lambda: sum(swarm.running(name) for name in names) == 11,
            """(sids) => document.querySelectorAll(sids.map((s) => `[data-service-id='${s}'][data-state='running']`)
              .join(",")).length === 11""",
            [sid for _, sid in created],
            what="11 running tasks",
        )
        seen = await check_fits(page, SHOTS / f"wall-lab-{size[0]}x{size[1]}.png")
    assert seen["density"] == "full" and len(seen["pages"]) == 1
    assert sorted(seen["shown"]) == sorted(lab.node_ids().values())
    running = sum(1 for t in await asyncio.to_thread(lab.api, "/tasks") if t["Status"]["State"] == "running")
    assert seen["boxes"] >= running  # every running task has its box (failed ones stay a while too)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_it_fits_a_swarm_of_200_nodes_and_5000_tasks_on_every_screen(
    size: tuple[int, int], browser: Any, large_dashboard: Dashboard, large_token: str
) -> None:
    async with wall(browser, large_dashboard.url, size, f"?kiosk={large_token}") as page:
        seen = await check_fits(page, SHOTS / f"wall-large-{size[0]}x{size[1]}.png")
    assert len(seen["model"]) == 200
    assert seen["running"] == 5000 * len(seen["shown"]) // 200  # the simulator puts 25 tasks on every node


async def test_it_rotates_pages_through_every_node(browser: Any, large_dashboard: Dashboard) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
    try:
        page = await context.new_page()
        await login(page, large_dashboard.url)  # a signed-in viewer may open the wall too
        await page.goto(f"{large_dashboard.url}/wall/?density=compact&page=3")
        await wait_live(page, 60)
        first = await page.evaluate(MEASURE)
        assert first["density"] == "compact" and len(first["pages"]) > 1
        seen_nodes = set(first["shown"])
        for _ in range(2):
            page_now = await page.evaluate("window.wall.page")
            await page.wait_for_function(PAGE_CHANGED, arg=page_now, timeout=6000)
            now = await page.evaluate(MEASURE)
            assert now["shown"] == now["pages"][now["page"]] and now["cut"] == []
            seen_nodes |= set(now["shown"])
        assert len(seen_nodes) > len(first["shown"])
        assert await page.text_content("#w-page") == f"page {now['page'] + 1}/{len(now['pages'])}"
    finally:
        await context.close()


BANNER_UP = "document.body.dataset.stale === '1' && !document.getElementById('w-banner').hidden"
BANNER_DOWN = "document.body.dataset.conn === 'live' && document.getElementById('w-banner').hidden"


async def test_it_shows_the_stale_banner_when_the_server_stops_and_hides_it_on_recovery(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    async with wall(browser, dashboard.url, query=f"?kiosk={kiosk_token}") as page:
        assert await page.is_hidden("#w-banner")
        await page.evaluate("window.__sameDocument = true")
        dashboard.stop()
        try:
            t0 = time.monotonic()
            await page.wait_for_function(BANNER_UP, timeout=(STALE_SECONDS + 3) * 1000)
            # the bound counts from the last frame, which came at most a heartbeat before the stop:
            # a server that is back sooner is no alarm
            assert STALE_SECONDS - HEARTBEAT_SECONDS - 1 < time.monotonic() - t0 < STALE_SECONDS + 2
            assert await page.evaluate("document.body.dataset.conn") == "reconnecting"
            assert "connection to the dashboard is down" in (await page.text_content("#w-banner") or "")
            _, sid = await service(swarm, "meanwhile", replicas=2)
        finally:
            dashboard.start()
        await page.wait_for_function(BANNER_DOWN, timeout=30000)
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}']`).length === 2", arg=sid, timeout=20000
        )
        assert await page.evaluate("window.__sameDocument") is True


async def test_it_rides_out_a_planned_restart_without_the_banner_and_catches_up(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    """A restart of the server (an upgrade) that takes less than the stale bound: no alarm at all,
    and what happened meanwhile is on the wall once it is back."""
    query = f"?kiosk={kiosk_token}"
    async with wall(browser, dashboard.url, query=query, init_script=RECORD_CLOSES) as page:
        await page.evaluate(WATCH_ALARMS)
        await page.evaluate("window.__sameDocument = true")
        t0 = time.monotonic()
        dashboard.stop()
        try:
            await page.wait_for_function("window.__closes.length > 0", timeout=5000)
            await page.wait_for_timeout(1500)  # the page says what it makes of it within a second
            assert await alarms(page) == []
            assert await page.text_content("#w-conn") == "RECONNECTING"
            _, sid = await service(swarm, "meanwhile", replicas=2)
        finally:
            dashboard.start()
        away = time.monotonic() - t0
        await page.wait_for_function(BANNER_DOWN, timeout=STALE_SECONDS * 1000)
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}'][data-state='running']`).length === 2",
            arg=sid,
            timeout=20000,
        )
        assert away < STALE_SECONDS - HEARTBEAT_SECONDS, f"the restart took {away:.1f}s: the test means nothing"
        assert await alarms(page) == []
        assert await conns(page) == ["live", "resuming", "live"]
        assert await page.evaluate("window.__sameDocument") is True
        # daphne stopping (SIGTERM) cancels the consumers and drops the connections: no close frame
        closes = await page.evaluate("window.__closes")
        assert closes and all(code < 4000 for code in closes), closes


async def test_it_shows_the_stale_banner_when_the_server_freezes(
    browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    """A frozen server (or a network that drops packets) closes nothing: only the silence tells."""
    stale = 10
    async with wall(browser, dashboard.url, query=f"?kiosk={kiosk_token}&stale={stale}") as page:
        assert dashboard.proc is not None
        dashboard.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            await page.wait_for_function(BANNER_UP, timeout=(stale + 3) * 1000)
            assert time.monotonic() - t0 < stale + 3
        finally:
            dashboard.proc.send_signal(signal.SIGCONT)
        await page.wait_for_function(BANNER_DOWN, timeout=40000)


async def test_it_shows_the_stale_banner_when_docker_dies_and_hides_it_on_recovery(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    _, sid = await service(swarm, "web", replicas=4)
    async with wall(browser, dashboard.url, query=f"?kiosk={kiosk_token}") as page:
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}'][data-state='running']`).length === 4",
            arg=sid,
            timeout=20000,
        )
        await asyncio.to_thread(swarm.kill_node, 1)
        t0 = time.monotonic()
        await page.wait_for_function(BANNER_UP, timeout=STALE_SECONDS * 1000)
        assert time.monotonic() - t0 < STALE_SECONDS
        assert await page.evaluate("document.body.dataset.conn") == "stale"
        assert (await page.text_content("#w-conn") or "").startswith("DOCKER")
        await screenshot(page, SHOTS / "wall-stale-1280x720.png")
        await asyncio.to_thread(swarm.restart_node, 1)
        await page.wait_for_function(BANNER_DOWN, timeout=60000)


async def test_it_says_docker_is_lost_when_docker_stops_answering_though_heartbeats_come(
    browser: Any, tmp_path: Path
) -> None:
    """A frozen daemon answers nothing, and the watcher's status says "live" until a request times
    out (10 s): the socket lives, heartbeats come, and only Docker's age tells the model is old."""
    with simulated_dashboard(
        tmp_path, nodes=3, tasks=6, SWARM_HEARTBEAT_SECONDS="1", WALL_STALE_SECONDS="3", SWARM_RECONCILE_SECONDS="1"
    ) as dash:
        token = token_of(dash)
        async with wall(browser, dash.url, query=f"?kiosk={token}") as page:
            grid = await page.context.new_page()
            await login(grid, dash.url)
            await grid.wait_for_selector('#conn[data-conn="live"]', timeout=10000)
            sim = dash.simulator
            assert sim is not None
            sim.proc.send_signal(signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                # Docker's last answer is then older than the bound: reconcile + heartbeat + slack = 4 s
                await page.wait_for_function(
                    "document.body.dataset.conn === 'stale' && window.swarm.status.state === 'live'", timeout=8000
                )
                assert time.monotonic() - t0 < 8
                assert await page.text_content("#w-conn") == "DOCKER LOST"
                assert await page.is_visible("#w-banner")
                assert "no answer from Docker" in (await page.text_content("#w-banner") or "")
                await grid.wait_for_selector('#conn[data-conn="stale"]', timeout=2000)
                assert (await grid.text_content("#conn") or "").startswith("Docker lost")
                assert await grid.is_visible("#banner")
                assert await grid.evaluate("window.swarm.status.state") == "live"  # the server still says so
            finally:
                sim.proc.send_signal(signal.SIGCONT)
            await page.wait_for_function(BANNER_DOWN, timeout=20000)
            await grid.wait_for_selector('#conn[data-conn="live"]', timeout=20000)


async def test_it_reloads_once_when_the_server_serves_new_page_scripts(lab: Lab, browser: Any, tmp_path: Path) -> None:
    """A wall left open across an upgrade runs the old scripts against the new server: it reloads,
    once; a server whose version keeps differing (a broken deploy) does not make it loop."""
    dash = Dashboard(lab.docker_host, tmp_path / "dashboard")
    dash.start()
    try:
        token = token_of(dash)
        async with wall(browser, dash.url, query=f"?kiosk={token}") as page:
            grid = await page.context.new_page()
            await login(grid, dash.url)
            loads = {"wall": 0, "grid": 0}
            page.on("load", lambda _: loads.__setitem__("wall", loads["wall"] + 1))
            grid.on("load", lambda _: loads.__setitem__("grid", loads["grid"] + 1))
            before = await page.evaluate("document.body.dataset.version")
            assert before == await grid.evaluate("document.body.dataset.version")
            for p in (page, grid):
                await p.evaluate("window.__sameDocument = true")
            dash.restart(PAGE_VERSION_SALT="an upgrade")
            for p in (page, grid):
                await p.wait_for_function(
                    "(v) => window.__sameDocument === undefined && window.swarmReady === true"
                    " && document.body.dataset.version !== v",
                    arg=before,
                    timeout=30000,
                )
                await p.evaluate("window.__sameDocument = true")
            assert loads == {"wall": 1, "grid": 1}
            # a second new version within minutes: the pages keep running (and warn) instead of reloading
            dash.restart(PAGE_VERSION_SALT="a broken deploy")
            await page.wait_for_function(BANNER_DOWN, timeout=30000)
            await grid.wait_for_selector('#conn[data-conn="live"]', timeout=30000)
            await asyncio.sleep(3)
            assert loads == {"wall": 1, "grid": 1}
            for p in (page, grid):
                assert await p.evaluate("window.__sameDocument") is True
    finally:
        dash.stop()


async def test_it_opens_with_a_kiosk_token_and_reaches_nothing_else(
    swarm: Swarm, browser: Any, dashboard: Dashboard
) -> None:
    await service(swarm, "watched", replicas=1)
    token = token_of(dashboard)
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{dashboard.url}/wall/?kiosk={token}&density=counts")
        await wait_live(page, 30)
        assert f"kiosk={token}" in page.url  # the bookmark keeps working
        assert await page.locator("#w-tiles .tile").count() >= 3
        task_id = await page.get_attribute("#w-tiles [data-task-id]", "data-task-id", timeout=15000)
        for path in ("/api/snapshot", f"/tasks/{task_id}/", f"/tasks/{task_id}/panel", "/secrets/", "/admin/"):
            response = await page.request.get(f"{dashboard.url}{path}?kiosk={token}", max_redirects=0)
            assert response.status in (302, 403), path
            assert "login/" in response.headers.get("location", "login/"), path  # the admin has its own
        logs = await page.evaluate(
            """(url) => new Promise((done) => {
              const ws = new WebSocket(url);
              ws.onopen = () => done("open");
              ws.onclose = (e) => done(e.code);
            })""",
            f"{dashboard.url.replace('http', 'ws')}/ws/tasks/{task_id}/logs?kiosk={token}",
        )
        assert logs != "open"
        for bad in ("", "?kiosk=sv_not-a-token"):
            response = await page.request.get(f"{dashboard.url}/wall/{bad}", max_redirects=0)
            assert response.status == 302 and "/accounts/login/" in response.headers["location"]
    finally:
        await context.close()


async def test_it_runs_under_the_content_security_policy(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    """Without the tests' own CSP bypass: no inline script, styles set only through the CSSOM."""
    await service(swarm, "strict", replicas=2)
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    try:
        await page.goto(f"{dashboard.url}/wall/?kiosk={kiosk_token}")
        assert "script-src 'self'" in ((await page.request.get(page.url)).headers["content-security-policy"])
        await page.wait_for_selector('body[data-conn="live"][data-density="full"]', timeout=30000)
        await page.wait_for_selector("#w-tiles [data-task-id][data-state='running']", timeout=20000)
        assert await page.locator("#w-tiles .tile").count() == 3
    finally:
        await context.close()
    assert console == []


async def test_it_takes_its_view_from_the_url(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    stack = f"st{uuid.uuid4().hex[:5]}"
    _, in_stack = await service(swarm, "shown", replicas=2, extra=("--label", f"com.docker.stack.namespace={stack}"))
    other_name, other = await service(swarm, "other", replicas=1)
    query = f"?kiosk={kiosk_token}&stack={stack}&density=compact&theme=light&page=20"
    async with wall(browser, dashboard.url, (1920, 1080), query) as page:
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}'][data-state='running']`).length === 2",
            arg=in_stack,
            timeout=20000,
        )
        sids = await page.evaluate(
            "[...new Set([...document.querySelectorAll('[data-task-id]')].map(e => e.dataset.serviceId))]"
        )
        assert sids == [in_stack]
        assert await page.evaluate("document.body.dataset.density") == "compact"
        assert await page.evaluate("document.documentElement.dataset.theme") == "light"
        assert stack in (await page.text_content("#w-filter") or "")
        assert await page.text_content("#w-services") == "1"
        assert await page.text_content("#w-running") == "2"
        assert page.url.endswith(query)
    async with wall(browser, dashboard.url, (1280, 720), f"?kiosk={kiosk_token}&service={other_name}") as page:
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}'][data-state='running']`).length === 1",
            arg=other,
            timeout=20000,
        )
        assert await page.evaluate("document.querySelectorAll('[data-task-id]').length") == 1


RECORD_PULSES = """() => {
  window.__pulses = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      for (const e of [n, ...n.querySelectorAll('[data-task-id]')]) {
        const pulse = [...e.classList].find((c) => c.startsWith('pulse-'));
        if (pulse) window.__pulses.push([e.dataset.serviceId, e.dataset.state, pulse]);
      }
    }
  }).observe(document.getElementById('w-tiles'), { childList: true, subtree: true });
}"""
TICKER_SAYS = "(text) => [...document.querySelectorAll('#w-events li')].some((li) => li.textContent.includes(text))"
PULSED = "([sid, pulse]) => window.__pulses.some(([s, , p]) => s === sid && p === pulse)"


async def test_it_pulses_what_changes_and_tells_it_in_the_ticker(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    async with wall(browser, dashboard.url, (1920, 1080), f"?kiosk={kiosk_token}") as page:
        await page.evaluate(RECORD_PULSES)
        name, sid = await service(swarm, "arrives", replicas=2)  # the manager has it when the CLI returns
        await follows_docker(page, lambda: True, TICKER_SAYS, f"service {name} created", what="service created")
        await page.wait_for_function(PULSED, arg=[sid, "pulse-new"], timeout=15000)
        await asyncio.to_thread(swarm.scale, name, 3)
        await follows_docker(page, lambda: True, TICKER_SAYS, f"service {name} scaled 2 → 3", what="scaled")
        crash, crash_id = await service(
            swarm, "crashes", command=("sh", "-c", "sleep 0.5; exit 3"),
            extra=("--restart-condition", "on-failure", "--restart-max-attempts", "1"),
        )  # fmt: skip

        def failed() -> bool:
            return any(t["Status"]["State"] == "failed" for t in swarm.tasks(crash, desired=None))

        # a task that fails by itself on a worker makes no event a manager sends: it shows with the
        # next reconcile (an event does carry it when the task ran on the manager)
        await follows_docker(
            page, failed, PULSED, [crash_id, "pulse-bad"], within=RECONCILE_SECONDS + 2, what="task failed"
        )
        await page.wait_for_function(TICKER_SAYS, arg=f"task {crash}.1 failed", timeout=15000)
        line = await page.evaluate(
            "(text) => [...document.querySelectorAll('#w-events li')].find((li) => li.textContent.includes(text))"
            ".textContent",
            f"task {crash}.1 failed",
        )
        assert re.search(r"non-zero exit \(3\)|exit 3", line), line
        # a pulse ends with its animation; no timer per box is left behind
        await page.wait_for_function(NO_PULSE, timeout=15000)
        await screenshot(page, SHOTS / "wall-events-1920x1080.png")


async def test_it_keeps_its_memory_flat_under_churn(browser: Any, tmp_path: Path) -> None:
    """The short version of bench/wall_soak.py: a small swarm whose task history fills in seconds.

    What the page holds must not grow with what it has seen: after the warm-up (every slot's
    history full, the ticker full, the code compiled) the DOM stays the same size and the heap
    moves within noise while the swarm keeps changing.
    """
    with simulated_dashboard(tmp_path, nodes=5, tasks=10, churn=6, SWARM_FAILED_TASKS_MINUTES="0") as dash:
        token = token_of(dash)
        async with wall(browser, dash.url, (1280, 720), f"?kiosk={token}") as page:
            warm = await soak(page, seconds=24, every=6)
            assert warm[-1].model_tasks > warm[0].model_tasks  # the history filled up meanwhile
            samples = await soak(page, seconds=30, every=3)
    heaps = [s.heap for s in samples]
    dom = [s.dom_nodes for s in samples]
    growth = sorted(heaps[-3:])[1] - sorted(heaps[:3])[1]
    assert samples[-1].seq > samples[0].seq + 20, "the swarm must really be changing"
    assert growth < 256 * 1024, f"heap grew {growth / 1024:.0f} KiB: {heaps}"
    assert max(dom) - min(dom) < 150, dom
    assert len({s.listeners for s in samples}) == 1
