"""The pages against Docker Engine 29 (API 1.52, refusing clients below 1.44), as the simulator's
engine-29 profile answers it: the grid, the wall, a task's panel with its logs, and the secrets page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Dashboard, signed_in, simulated_dashboard


@pytest.fixture(scope="module")
def dashboard29(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with simulated_dashboard(tmp_path_factory.mktemp("engine29"), nodes=4, tasks=24, engine="29") as d:
        yield d


async def running_tasks(page: Any, dashboard: Dashboard) -> list[dict[str, Any]]:
    snapshot = await (await page.request.get(f"{dashboard.url}/api/snapshot")).json()
    assert snapshot["status"]["state"] == "live", snapshot["status"]
    return [t for t in snapshot["tasks"] if t["state"] == "running" and t["desired_state"] == "running"]


async def test_the_grid_and_a_tasks_panel_with_its_logs_work_on_engine_29(browser: Any, dashboard29: Dashboard) -> None:
    async with signed_in(browser, dashboard29, "operator") as page:
        running = await running_tasks(page, dashboard29)
        assert len(running) >= 20
        for task in running:
            assert await page.locator(f'#grid [data-task-id="{task["id"]}"][data-state="running"]').count() == 1
        task_id = running[0]["id"]
        await page.click(f'#grid [data-task-id="{task_id}"]')
        await page.wait_for_selector(f'#panel .task-panel[data-task-id="{task_id}"]', timeout=10000)
        await page.wait_for_function("document.querySelectorAll('#panel .log-line').length >= 3", timeout=15000)
        assert "Docker refused" not in (await page.locator("#panel").text_content() or "")


async def test_the_wall_works_on_engine_29(browser: Any, dashboard29: Dashboard) -> None:
    async with signed_in(browser, dashboard29, "viewer") as page:
        running = await running_tasks(page, dashboard29)
        await page.goto(f"{dashboard29.url}/wall/")
        await page.wait_for_function("window.swarmReady === true", timeout=15000)
        shown = await page.locator("[data-task-id]").evaluate_all("els => els.map(e => e.dataset.taskId)")
        assert {t["id"] for t in running} <= set(shown)
        assert await page.locator("#w-banner").is_hidden()


async def test_the_secrets_page_creates_a_secret_on_engine_29(browser: Any, dashboard29: Dashboard) -> None:
    name = f"api-token-{uuid.uuid4().hex[:6]}"
    async with signed_in(browser, dashboard29, "operator") as page:
        await page.goto(f"{dashboard29.url}/secrets/")
        await page.fill("#create-secret [name=name]", name)
        await page.fill("#create-secret [name=value]", "a-value-nobody-sees")
        await page.click("#create-secret button[type=submit]")
        await page.wait_for_selector(f'#secrets-table tr[data-secret-name="{name}"]', timeout=10000)
        assert "a-value-nobody-sees" not in await page.content()
