"""A kiosk URL in real Chromium: traded for a session cookie on first use, so that no later request,
websocket or Referer carries the token; a filtered wall's socket brings only its stack; an expired
token is refused and its screen goes dark."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.wall_soak import wait_live
from tests.browser.conftest import Dashboard, as_read
from tests.browser.test_grid import service
from tests.lab import Swarm


def kiosk_token(dashboard: Dashboard, *args: str) -> tuple[str, str]:
    name = f"screen-{uuid.uuid4().hex[:6]}"
    urls = dashboard.manage("kiosk", "create", name, "--base-url", dashboard.url, *args)
    return name, next(u for u in urls.split() if "/wall/?kiosk=" in u).split("kiosk=", 1)[1]


async def test_it_trades_the_kiosk_url_for_a_cookie_and_never_sends_the_token_again(
    swarm: Swarm, browser: Any, dashboard: Dashboard
) -> None:
    stack = f"st{uuid.uuid4().hex[:5]}"
    _, in_stack = await service(swarm, "shown", replicas=2, extra=("--label", f"com.docker.stack.namespace={stack}"))
    other_name, other = await service(swarm, "hidden", replicas=1)
    _, token = kiosk_token(dashboard)
    context = await browser.new_context(bypass_csp=True)
    requests: list[Any] = []
    sockets: list[str] = []
    received: list[str | bytes] = []
    context.on("request", lambda request: requests.append(request))

    def on_socket(ws: Any) -> None:
        sockets.append(ws.url)
        ws.on("framereceived", lambda payload: received.append(payload))

    try:
        page = await context.new_page()
        page.on("websocket", on_socket)
        await page.goto(f"{dashboard.url}/wall/?kiosk={token}&stack={stack}&density=counts")
        await wait_live(page, 30)
        assert page.url == f"{dashboard.url}/wall/?stack={stack}&density=counts"
        await page.wait_for_function(
            "(sid) => document.querySelectorAll(`[data-service-id='${sid}'][data-state='running']`).length === 2",
            arg=in_stack,
            timeout=20000,
        )
        # a change on the hidden service while the wall watches: nothing of it may reach the page
        await asyncio.to_thread(swarm.scale, other_name, 2)
        await asyncio.to_thread(swarm.wait_running, other_name, 2)
        await page.reload()  # a later visit: the cookie alone opens it
        await wait_live(page, 30)
        assert len(sockets) >= 2 and all(f"stack={stack}" in url and token not in url for url in sockets)
        first, *later = requests
        assert token in first.url and first.is_navigation_request()
        assert len(later) >= 6  # the redirect's target, scripts, styles, the reload
        for request in later:
            headers = await request.all_headers()
            assert token not in request.url, request.url
            assert token not in headers.get("referer", ""), request.url
        frames = as_read(received)
        assert frames and all(other not in f and other_name not in f for f in frames)
        assert any(in_stack in f for f in frames)
    finally:
        await context.close()
    assert token not in dashboard.log.read_text()


async def test_it_refuses_an_expired_token_and_darkens_its_screen(browser: Any, dashboard: Dashboard) -> None:
    name, token = kiosk_token(dashboard, "--expires", "1h")
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{dashboard.url}/?kiosk={token}")
        await page.wait_for_function("window.swarmReady === true", timeout=15000)
        assert page.url == f"{dashboard.url}/"
        dashboard.manage(
            "shell", "-c",
            "from datetime import timedelta; from django.utils import timezone; "
            "from dashboard.models import KioskToken; "
            f"KioskToken.objects.filter(name='{name}').update(expires_at=timezone.now() - timedelta(seconds=1))",
        )  # fmt: skip
        # closed at the recheck (4403): the page stops following the swarm for good and says why
        await page.wait_for_selector('#socket-ended[data-code="4403"]', timeout=8000)
        assert "expired" in await page.inner_text("#socket-ended")
        assert await page.get_attribute("#conn", "data-conn") == "stale"
        await page.reload()
        assert "/accounts/login/" in page.url
        stranger = await browser.new_context()
        response = await stranger.request.get(f"{dashboard.url}/wall/?kiosk={token}", max_redirects=0)
        assert response.status == 302 and "/accounts/login/" in response.headers["location"]
        assert token not in response.headers["location"]
        await stranger.close()
        assert "expired" in dashboard.manage("kiosk", "list")
    finally:
        await context.close()


async def test_a_sign_in_on_a_kiosk_screen_lasts_a_sign_in_and_ends_with_the_account(
    browser: Any, dashboard: Dashboard
) -> None:
    _, token = kiosk_token(dashboard)
    user, password = f"desk-{uuid.uuid4().hex[:6]}", "desk-pass-12345678"
    dashboard.manage("adduser", user, "--role", "viewer", extra={"ADDUSER_PASSWORD": password})
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{dashboard.url}/?kiosk={token}")
        await page.wait_for_function("window.swarmReady === true", timeout=15000)
        await page.goto(f"{dashboard.url}/accounts/login/")
        await page.fill("#id_username", user)
        await page.fill("#id_password", password)
        await page.click("button[type=submit]")
        await page.wait_for_function("window.swarmReady === true", timeout=15000)
        [cookie] = [c for c in await context.cookies() if c["name"] == "sessionid"]
        lasts = cookie["expires"] - time.time()
        assert 11 * 3600 < lasts <= 12 * 3600 + 60  # SESSION_HOURS, not the kiosk's 90 days
        dashboard.manage("shell", "-c", f"from django.contrib.auth.models import User; "
                         f"User.objects.filter(username='{user}').update(is_active=False)")  # fmt: skip
        await page.reload()
        assert "/accounts/login/" in page.url  # signed out, not a kiosk screen again
    finally:
        await context.close()
