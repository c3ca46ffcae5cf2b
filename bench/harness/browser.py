"""Debian's Chromium under Playwright, and a browser context signed in to the dashboard."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.harness.daphne import Dashboard

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        sys.exit("chromium is missing: apt-get install -y chromium")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright (never a downloaded browser)."""
    from playwright.async_api import async_playwright

    need_chromium()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def grid_context(browser: Any, dash: Dashboard) -> Any:
    """A browser context signed in with the dashboard's session cookie.

    ``bypass_csp``: the benchmark's probes are evaluated strings, which the page's CSP forbids.
    """
    context = await browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    await context.add_cookies([{"name": "sessionid", "value": dash.session_value(), "url": dash.url}])
    return context
