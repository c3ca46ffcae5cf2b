"""In real Chromium: a page whose user signs out in another tab, is deactivated or gets a new password
stops following the swarm, says why with a link to go on, and does not reconnect."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Dashboard, simulated_dashboard

RECHECK = 3.0  # dashboard.live.guard.SESSION_RECHECK_SECONDS: a change made in another process
PASSWORD = "a-Long-pass-1234"  # a test user's


@pytest.fixture(scope="module")
def small_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with simulated_dashboard(tmp_path_factory.mktemp("ended"), nodes=3, tasks=30) as d:
        yield d


def new_user(d: Dashboard) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    d.manage("adduser", name, "--role", "viewer", extra={"ADDUSER_PASSWORD": PASSWORD})
    return name


async def sign_in(page: Any, d: Dashboard, name: str) -> None:
    await page.goto(f"{d.url}/accounts/login/")
    await page.fill("#id_username", name)
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_function("window.swarmReady === true", timeout=15000)


async def sockets_opened(page: Any) -> list[str]:
    return list(await page.evaluate("window.__sockets"))


COUNT_SOCKETS = """() => {
  window.__sockets = [];
  const Original = window.WebSocket;
  window.WebSocket = class extends Original {
    constructor(...args) { super(...args); window.__sockets.push(String(args[0])); }
  };
}"""


async def ended(page: Any, code: int, within: float) -> str:
    """The notice's text, once the page shows it for ``code``; then it must not reconnect."""
    await page.wait_for_selector(f'#socket-ended[data-code="{code}"]', timeout=within * 1000)
    before = await sockets_opened(page)
    await asyncio.sleep(3)  # the page's quickest retry is within a second
    assert await sockets_opened(page) == before, "the page reconnected after the server said it was over"
    assert await page.evaluate("document.body.dataset.conn") == "ended"
    return str(await page.inner_text("#socket-ended"))


async def test_it_stops_a_grid_in_another_tab_when_the_user_signs_out(browser: Any, small_dashboard: Dashboard) -> None:
    d = small_dashboard
    name = new_user(d)
    context = await browser.new_context(bypass_csp=True)
    try:
        here, there = await context.new_page(), await context.new_page()
        await there.add_init_script(f"({COUNT_SOCKETS})()")
        await sign_in(here, d, name)
        await there.goto(f"{d.url}/")
        await there.wait_for_function("window.swarmReady === true", timeout=15000)
        await here.click("form[action$='/accounts/logout/'] button")
        text = await ended(there, 4401, within=5)
        assert "You signed out." in text
        link = there.locator("#socket-ended a")
        assert await link.inner_text() == "Sign in again"
        await link.click()
        await there.wait_for_url("**/accounts/login/**")
        await there.fill("#id_username", name)
        await there.fill("#id_password", PASSWORD)
        await there.click("button[type=submit]")
        await there.wait_for_function("window.swarmReady === true", timeout=15000)  # back where it was
        assert await there.locator("#socket-ended").count() == 0
    finally:
        await context.close()


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        ("u.is_active = False", 4403, "Your account was deactivated."),
        ("u.set_password('another-Long-pass-5678')", 4401, "Your password was changed: sign in again."),
    ],
)
async def test_it_stops_a_grid_within_the_recheck_bound_of_a_change_made_elsewhere(
    browser: Any, small_dashboard: Dashboard, change: str, code: int, says: str
) -> None:
    """manage.py in another process: no signal reaches the dashboard, its sockets' own re-check does."""
    d = small_dashboard
    name = new_user(d)
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await context.new_page()
        await page.add_init_script(f"({COUNT_SOCKETS})()")
        await sign_in(page, d, name)
        script = (
            f"from django.contrib.auth.models import User; u = User.objects.get(username='{name}'); {change}; u.save()"
        )
        await asyncio.to_thread(d.manage, "shell", "-c", script)
        text = await ended(page, code, within=RECHECK + 3)
        assert says in text
    finally:
        await context.close()


# the server's close, as the page's socket reports it (a slow phone cannot be staged here)
SERVER_CLOSES = """() => {
  window.__swarmSockets = [];
  const Original = window.WebSocket;
  window.WebSocket = class extends Original {
    constructor(...args) { super(...args); window.__swarmSockets.push(this); window.__openedAt = performance.now(); }
  };
  window.__serverCloses = (code) => {
    const ws = window.__swarmSockets[window.__swarmSockets.length - 1];
    window.__closedAt = performance.now();
    ws.dispatchEvent(new CloseEvent("close", { code }));
  };
}"""


# at once: the page's jitter (250 ms) only, not its first backoff (500 ms)
@pytest.mark.parametrize(("code", "reconnects_within"), [(4408, 0.4), (4429, None)])
async def test_it_reconnects_at_once_when_too_slow_and_after_a_pause_when_too_many(
    browser: Any, small_dashboard: Dashboard, code: int, reconnects_within: float | None
) -> None:
    d = small_dashboard
    name = new_user(d)
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await context.new_page()
        await page.add_init_script(f"({SERVER_CLOSES})()")
        await sign_in(page, d, name)
        if reconnects_within is not None:  # not the page's fault: a new socket and model at once, every time
            for _ in range(3):
                opened = await page.evaluate("window.__swarmSockets.length")
                await page.evaluate(f"window.__serverCloses({code})")
                await page.wait_for_function(f"window.__swarmSockets.length > {opened}", timeout=5000)
                waited = await page.evaluate("window.__openedAt - window.__closedAt")
                assert waited <= reconnects_within * 1000, f"the page waited {waited:.0f} ms"
                await page.wait_for_function("document.body.dataset.conn === 'live'", timeout=5000)
        else:  # a page that sent too much waits before it tries again
            opened = await page.evaluate("window.__swarmSockets.length")
            await page.evaluate(f"window.__serverCloses({code})")
            await asyncio.sleep(3)
            assert await page.evaluate("window.__swarmSockets.length") == opened
        assert await page.locator("#socket-ended").count() == 0
    finally:
        await context.close()
