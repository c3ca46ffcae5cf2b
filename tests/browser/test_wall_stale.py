"""The wall screen in real Chromium never passes stale data off as live: server, network or Docker down."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from tests.browser import wall_helpers
from tests.browser.conftest import WATCH_ALARMS, Dashboard, alarms, conns, login, simulated_dashboard
from tests.browser.test_grid import service
from tests.browser.wall_helpers import SHOTS, screenshot, token_of, wall
from tests.lab import Lab, Swarm

# the kiosk token of the session's dashboard: a pytest fixture shared in wall_helpers
kiosk_token = wall_helpers.kiosk_token

STALE_SECONDS = 15  # WALL_STALE_SECONDS, the default the dashboards here run with
HEARTBEAT_SECONDS = 5  # SWARM_HEARTBEAT_SECONDS, likewise

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
