"""Every page passes axe-core (tests/browser/axe.py: WCAG 2.1 AA and best practice) in Chromium on
the lab, with a task of each kind on the grid and the task panel open."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.browser.axe import assert_accessible
from tests.browser.conftest import CHROMIUM_ARGS, Dashboard  # noqa: F401 - CHROMIUM_ARGS: as the fixtures launch it
from tests.browser.test_grid import service, wait_boxes
from tests.browser.test_secrets import _create_config
from tests.lab import Lab, Swarm


async def test_every_page_passes_axe(lab: Lab, swarm: Swarm, page: Any, browser: Any, dashboard: Dashboard) -> None:
    _, sid = await service(swarm, "a11y", replicas=3, extra=("--label", "com.docker.stack.namespace=a11y"))
    _, stuck = await service(swarm, "a11y-stuck", replicas=1, extra=("--constraint", "node.labels.nowhere==1"))
    await wait_boxes(page, sid, "running", 3)
    await wait_boxes(page, stuck, "pending", 1)
    await assert_accessible(page, "the grid")
    await page.emulate_media(color_scheme="dark")
    await assert_accessible(page, "the grid, dark")
    await page.emulate_media(color_scheme="light")
    task_id = await page.evaluate(f"() => document.querySelector('#grid [data-service-id=\"{sid}\"]').dataset.taskId")
    await page.click(f'#grid [data-task-id="{task_id}"]')
    await page.wait_for_selector(f'#panel .task-panel[data-task-id="{task_id}"] .log-lines', timeout=10000)
    await assert_accessible(page, "the grid with the task panel open")
    await page.keyboard.press("Escape")
    await page.fill("#filter", "stack:a11y")
    await page.focus(f'#grid [data-task-id="{task_id}"]')
    await page.keyboard.press("?")
    await page.wait_for_selector("#keys[open]", timeout=5000)
    await assert_accessible(page, "the grid filtered, with the keys listed")

    for path, what in ((f"/tasks/{task_id}/", "the task page"), ("/secrets/", "the secrets page"),
                       ("/wall/", "the wall"), ("/?group=zone", "the grid in bands")):  # fmt: skip
        await page.goto(f"{dashboard.url}{path}")
        if path in ("/wall/", "/?group=zone"):
            await page.wait_for_function("window.swarmReady === true", timeout=15000)
        await assert_accessible(page, what)
        # the one bar on every page; the wall, a kiosk screen, has its own (README: the exception)
        assert await page.is_visible("#nav #filter") == (path != "/wall/"), what

    name = f"a11y-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(_create_config, lab, name, b"listen 8080")
    try:
        config_id = (await asyncio.to_thread(lab.docker, "config", "inspect", "--format", "{{.ID}}", name)).strip()
        await page.goto(f"{dashboard.url}/configs/{config_id}/")
        await assert_accessible(page, "the config page")
    finally:
        await asyncio.to_thread(lab.docker, "config", "rm", name, check=False)

    context = await browser.new_context(bypass_csp=True)  # signed out
    try:
        login = await context.new_page()
        await login.goto(f"{dashboard.url}/accounts/login/")
        await assert_accessible(login, "the login page")
    finally:
        await context.close()
