"""A wall screen's kiosk URL in real Chromium: the grid without signing in, nothing more, until revoked."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.browser.conftest import CHROMIUM_ARGS, Dashboard


async def test_it_opens_the_grid_with_a_kiosk_url_and_goes_dark_when_revoked(
    browser: Any, dashboard: Dashboard
) -> None:
    name = f"lobby-{uuid.uuid4().hex[:6]}"
    urls = dashboard.manage("kiosk", "create", name, "--base-url", dashboard.url)
    grid_url = next(u for u in urls.split() if re.search(r"/\?kiosk=sv_", u))
    assert CHROMIUM_ARGS  # the same browser as every other test
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    try:
        await page.goto(grid_url)
        await page.wait_for_function("window.swarmReady === true", timeout=15000)
        assert await page.locator("#grid section.node").count() >= 3
        assert await page.locator('a[href$="/secrets/"]').count() == 0  # a kiosk only watches
        await page.locator("#grid [data-task-id]").first.click() if await page.locator(
            "#grid [data-task-id]"
        ).count() else None
        assert await page.is_hidden("#panel")
        token = grid_url.split("kiosk=")[1]
        for path in ("/api/snapshot", "/secrets/", "/admin/"):
            response = await page.request.get(f"{dashboard.url}{path}?kiosk={token}", max_redirects=0)
            assert response.status in (302, 403), path
        dashboard.manage("kiosk", "revoke", name)
        # the page stops following the swarm for good and says why (4403)
        await page.wait_for_selector('#socket-ended[data-code="4403"]', timeout=5000)
        assert "revoked" in await page.inner_text("#socket-ended")
        await page.reload()
        assert "/accounts/login/" in page.url  # the URL no longer opens anything
    finally:
        await context.close()
    assert token not in dashboard.log.read_text()  # the access log masks it
