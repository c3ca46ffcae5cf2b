"""The wall screen in real Chromium: a kiosk token opens it and nothing else, under the CSP, its view from the URL."""

from __future__ import annotations

import uuid
from typing import Any

from bench.wall_soak import wait_live
from tests.browser import wall_helpers
from tests.browser.conftest import Dashboard
from tests.browser.test_grid import service
from tests.browser.wall_helpers import token_of, wall
from tests.lab import Swarm

# the kiosk token of the session's dashboard: a pytest fixture shared in wall_helpers
kiosk_token = wall_helpers.kiosk_token


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
        assert page.url == f"{dashboard.url}/wall/?density=counts"  # the token went into a session cookie
        assert await page.locator("#w-tiles .tile").count() >= 3
        task_id = await page.get_attribute("#w-tiles [data-task-id]", "data-task-id", timeout=15000)
        for path in ("/api/snapshot", f"/tasks/{task_id}/", f"/tasks/{task_id}/panel", "/secrets/", "/admin/"):
            response = await page.request.get(f"{dashboard.url}{path}?kiosk={token}", max_redirects=0)
            assert response.status in (302, 403), path
            assert "login/" in response.headers.get("location", "login/"), path  # the admin has its own
        # the log socket says why and closes, sending nothing of the logs
        logs = await page.evaluate(
            """(url) => new Promise((done) => {
              const ws = new WebSocket(url);
              const types = [];
              ws.onmessage = (e) => types.push(JSON.parse(e.data).type);
              ws.onclose = (e) => done({ code: e.code, types });
            })""",
            f"{dashboard.url.replace('http', 'ws')}/ws/tasks/{task_id}/logs?kiosk={token}",
        )
        assert logs == {"code": 4401, "types": ["error"]}
        stranger = await browser.new_context()  # without the screen's session
        for bad in ("", "?kiosk=sv_not-a-token"):
            response = await stranger.request.get(f"{dashboard.url}/wall/{bad}", max_redirects=0)
            assert response.status == 302 and "/accounts/login/" in response.headers["location"]
        await stranger.close()
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
        assert page.url.endswith(query.replace(f"kiosk={kiosk_token}&", ""))  # the rest of the view stays
    async with wall(browser, dashboard.url, (1280, 720), f"?kiosk={kiosk_token}&service={other_name}") as page:
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}'][data-state='running']`).length === 1",
            arg=other,
            timeout=20000,
        )
        assert await page.evaluate("document.querySelectorAll('[data-task-id]').length") == 1
