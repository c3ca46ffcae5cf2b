"""What the wall tests share: a kiosk token, the wall page opened and live, screenshots."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.wall_soak import wait_live
from tests.browser.conftest import ROOT, Dashboard

SHOTS = ROOT / "build" / "screenshots"
NO_PULSE = "document.querySelectorAll('.pulse-new, .pulse-change, .pulse-bad').length === 0"


@pytest.fixture(scope="session")
def kiosk_token(dashboard: Dashboard) -> str:
    return token_of(dashboard)


def token_of(dashboard: Dashboard) -> str:
    urls = dashboard.manage("kiosk", "create", f"wall-{uuid.uuid4().hex[:6]}", "--base-url", dashboard.url)
    wall_url = next(u for u in urls.split() if "/wall/?kiosk=" in u)
    return wall_url.split("kiosk=", 1)[1]


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
