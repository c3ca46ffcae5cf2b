"""Inspecting a task in the browser: details, slot history, live logs, secrets kept masked."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.core.docker.logs import CUT_NOTICE
from dashboard.core.masking import MASK
from tests.browser.conftest import Dashboard, as_read, signed_in
from tests.browser.test_grid import service, wait_boxes
from tests.integration.test_logs_lab import CHATTY, STAMP, Cut, CuttingProxy
from tests.integration.test_masking_lab import MARK, SECRETS, node_label, secretive_service  # noqa: F401 - a fixture
from tests.lab import Lab, Swarm, wait_until


async def open_panel(page: Any, task_id: str) -> None:
    await page.click(f'#grid [data-task-id="{task_id}"]')
    await page.wait_for_selector(f'#panel .task-panel[data-task-id="{task_id}"]', timeout=10000)


async def metrics(page: Any, dashboard: Dashboard) -> dict[str, Any]:
    response = await page.request.get(f"{dashboard.url}/api/metrics")
    return dict(await response.json())


async def test_it_shows_why_a_task_failed_with_its_slot_history(swarm: Swarm, page: Any, dashboard: Dashboard) -> None:
    name, _ = await service(
        swarm, "exits", command=("sh", "-c", "sleep 0.5; exit 3"),
        extra=("--restart-condition", "on-failure", "--restart-delay", "1s", "--restart-max-attempts", "2"),
    )  # fmt: skip
    await asyncio.to_thread(
        wait_until, lambda: len([t for t in swarm.tasks(name, desired=None) if t["Status"]["State"] == "failed"]) >= 2,
        timeout=40, what="two failed attempts",
    )  # fmt: skip
    failed = [t for t in swarm.tasks(name, desired=None) if t["Status"]["State"] == "failed"]
    newest = max(failed, key=lambda t: t["CreatedAt"])
    await page.goto(page.url.split("?")[0] + "?history=1")
    await page.wait_for_function("window.swarmReady === true", timeout=15000)
    listed = (await metrics(page, dashboard))["views_docker_requests"].get("GET /tasks", 0)
    await open_panel(page, newest["ID"])
    panel = page.locator("#panel")
    assert (await panel.locator(".exit-code").first.text_content()) == "3"
    assert "non-zero exit (3)" in (await panel.locator(".error-text").text_content() or "")
    earlier_failures = panel.locator('table.history tbody tr[data-state="failed"]')
    assert await earlier_failures.count() >= 1
    assert (await earlier_failures.first.locator(".exit-code").text_content() or "").strip() == "3"
    # the slot's history came from the live model: opening the panel listed no tasks from Docker
    assert (await metrics(page, dashboard))["views_docker_requests"].get("GET /tasks", 0) == listed
    # the same details at a shareable address
    await page.goto(f"{page.url.split('/?')[0].rstrip('/')}/tasks/{newest['ID']}/")
    assert (await page.locator(".exit-code").first.text_content()) == "3"


async def test_it_follows_logs_live_and_closes_the_docker_stream_with_the_panel(
    swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    name, sid = await service(
        swarm,
        "chatty",
        command=("sh", "-c", "i=0; while true; do i=$((i+1)); echo out $i; echo err $i >&2; sleep 0.1; done"),
    )
    await wait_boxes(page, sid, "running", 1)
    task_id = (await asyncio.to_thread(swarm.tasks, name))[0]["ID"]
    await page.evaluate(
        """() => { window.__arrivals = [];
          new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes)
            if (n.classList && n.classList.contains('log-line'))
              window.__arrivals.push([n.firstChild.textContent, Date.now()]);
          }).observe(document.getElementById('panel'), {childList: true, subtree: true}); }"""
    )
    await open_panel(page, task_id)
    await page.wait_for_function("window.__arrivals.length > 40", timeout=15000)
    assert await page.locator("#panel .log-line.stderr").count() > 0
    assert await page.locator("#panel .log-line.stdout").count() > 0
    assert (await metrics(page, dashboard))["open_log_streams"] == 1
    # lines emitted after the panel opened: Docker's timestamp vs. arrival in the page (same clock)
    await page.wait_for_timeout(2000)
    arrivals = await page.evaluate("window.__arrivals")
    lags = sorted(at - _epoch_ms(ts) for ts, at in arrivals[-15:] if ts)
    assert lags and lags[-1] < 1000, f"log line to page lags (ms): {lags}"
    # filter, pause
    await page.fill("#panel .logs-filter", "err 1")
    visible = await page.locator("#panel .log-line:not([hidden])").all_text_contents()
    assert visible and all("err 1" in v for v in visible)
    await page.click("#panel .logs-pause")
    count = await page.locator("#panel .log-line").count()
    await page.wait_for_timeout(500)
    assert await page.locator("#panel .log-line").count() == count
    await page.click("#panel .logs-pause")
    await page.wait_for_function(f"document.querySelectorAll('#panel .log-line').length > {count}", timeout=5000)
    await page.click("#panel .close")
    deadline = asyncio.get_running_loop().time() + 5
    while (await metrics(page, dashboard))["open_log_streams"] != 0:
        assert asyncio.get_running_loop().time() < deadline, "the Docker log stream stayed open after closing"
        await asyncio.sleep(0.1)


def _epoch_ms(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.rstrip("Z")[:26] + "+00:00").timestamp() * 1000


async def test_it_says_so_when_the_log_driver_cannot_be_read(swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "silent", extra=("--log-driver", "none"))
    await wait_boxes(page, sid, "running", 1)
    task_id = (await asyncio.to_thread(swarm.tasks, name))[0]["ID"]
    await open_panel(page, task_id)
    status = page.locator("#panel .logs-status")
    await status.filter(has_text="logging driver").wait_for(timeout=10000)


@pytest.mark.usefixtures("node_label")
async def test_it_keeps_secrets_from_viewers_and_reveals_each_to_operators_on_the_record(
    swarm: Swarm, page: Any, operator_page: Any, dashboard: Dashboard
) -> None:
    received: list[str | bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(payload)))
    name = await asyncio.to_thread(secretive_service, swarm)
    sid = await asyncio.to_thread(swarm.service_id, name)
    await page.reload()
    await wait_boxes(page, sid, "running", 1)
    task_id = (await asyncio.to_thread(swarm.tasks, name))[0]["ID"]
    await open_panel(page, task_id)
    for path in SECRETS:  # each masked value is on show, as a mask
        assert await page.locator(f'#panel .masked[data-path="{path}"]').count() == 1, path
    assert "DB_PASSWORD=" + MASK in (await page.locator("#panel .env").text_content() or "")
    assert await page.locator("#panel button.reveal").count() == 0  # a viewer is not offered it
    bodies = [await page.content()]
    for path in ("/", "/api/snapshot", f"/tasks/{task_id}/", f"/tasks/{task_id}/panel", f"/tasks/{task_id}/inspect",
                 f"/tasks/{task_id}/logs.txt"):  # fmt: skip
        bodies.append(await (await page.request.get(dashboard.url + path)).text())
    refused = await page.request.post(
        f"{dashboard.url}/tasks/{task_id}/reveal",
        form={"path": "/Spec/ContainerSpec/Env/0", "csrfmiddlewaretoken": await _csrf(page)},
        headers={"X-CSRFToken": await _csrf(page), "Referer": dashboard.url + "/"},
    )
    assert refused.status == 403
    bodies.append(await refused.text())
    for body in bodies + as_read(received):  # the packed model inflated, as the page reads it
        assert MARK not in body

    forged = await operator_page.request.post(  # no CSRF token: a cross-site form cannot reveal
        f"{dashboard.url}/tasks/{task_id}/reveal", form={"path": "/Spec/ContainerSpec/Env/0"}
    )
    assert forged.status == 403 and MARK not in await forged.text()
    await wait_boxes(operator_page, sid, "running", 1)
    await open_panel(operator_page, task_id)
    for path, clear in SECRETS.items():
        await operator_page.locator(f'#panel button.reveal[data-path="{path}"]').click()
        shown = operator_page.locator(f'#panel .masked[data-path="{path}"][data-revealed="true"]')
        await shown.filter(has_text=clear).wait_for(timeout=5000)
        assert await operator_page.locator(f'#panel button.reveal[data-path="{path}"]').count() == 0
    rows = _audit(dashboard, "value.reveal")
    assert [(r[0], r[1], json.loads(r[2])) for r in rows] == [
        ("operator", f"task {task_id}", {"path": path}) for path in SECRETS
    ]
    assert MARK not in str(rows)
    assert MARK not in dashboard.log.read_text()


async def _csrf(page: Any) -> str:
    cookies = await page.context.cookies()
    return str(next(c["value"] for c in cookies if c["name"] == "csrftoken"))


def _audit(dashboard: Dashboard, action: str) -> list[tuple[str, str, str]]:
    db = Path(dashboard.env["DATA_DIR"]) / "db.sqlite3"
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT actor, target, detail FROM dashboard_auditentry WHERE action = ?", (action,)))


async def test_it_updates_the_open_panel_when_the_task_changes(swarm: Swarm, page: Any) -> None:
    name, sid = await service(swarm, "stopping", replicas=1)
    await wait_boxes(page, sid, "running", 1)
    task_id = (await asyncio.to_thread(swarm.tasks, name))[0]["ID"]
    await open_panel(page, task_id)
    detail = page.locator(f'#panel .task-detail[data-task-id="{task_id}"]')
    assert await detail.get_attribute("data-desired-state") == "running"
    await asyncio.to_thread(swarm.scale, name, 0)
    await page.wait_for_selector(
        f'#panel .task-detail[data-task-id="{task_id}"]:not([data-desired-state="running"])', timeout=10000
    )


async def _task_in(swarm: Swarm, name: str, state: str) -> str:
    def reached() -> str | None:
        tasks = swarm.tasks(name, desired=None)
        return str(tasks[0]["ID"]) if len(tasks) == 1 and tasks[0]["Status"]["State"] == state else None

    return str(await asyncio.to_thread(wait_until, reached, timeout=30, what=f"{name}'s task {state}"))


async def _log_texts(page: Any, scope: str) -> list[str]:
    return list(await page.locator(f"{scope} .log-line .text").all_text_contents())


async def test_it_says_the_log_ended_when_the_followed_task_exits(swarm: Swarm, page: Any) -> None:
    name, sid = await service(
        swarm, "brief", command=("sh", "-c", "echo start; sleep 2; echo bye"), extra=("--restart-condition", "none")
    )
    await wait_boxes(page, sid, "running", 1)
    await open_panel(page, await _task_in(swarm, name, "running"))
    status = page.locator("#panel .logs-status")
    await page.locator('#panel .logs-status[data-state="following"]').wait_for(timeout=10000)
    await page.locator('#panel .logs-status[data-state="ended"]').wait_for(timeout=30000)
    assert await status.text_content() == "ended"
    assert await status.get_attribute("title") == "the task has ended (complete)"
    assert await _log_texts(page, "#panel") == ["start", "bye"]


async def test_it_shows_the_whole_log_of_a_tty_task_that_printed_hi_and_exited(
    swarm: Swarm, page: Any, dashboard: Dashboard
) -> None:
    name, _ = await service(
        swarm, "tty", command=("sh", "-c", "echo hi"), extra=("--tty", "--restart-condition", "none")
    )
    task_id = await _task_in(swarm, name, "complete")
    await page.goto(f"{dashboard.url}/tasks/{task_id}/")
    await page.locator('.logs-status[data-state="ended"]').wait_for(timeout=20000)
    assert await page.locator(".logs-status").text_content() == "ended"
    assert await _log_texts(page, "#task-page") == ["hi"]
    body = await (await page.request.get(f"{dashboard.url}/tasks/{task_id}/logs.txt")).text()
    assert re.fullmatch(r"\S+Z stdout hi\n", body), body


@pytest.fixture
def proxied_dashboard(lab: Lab, tmp_path: Path) -> Iterator[tuple[Dashboard, CuttingProxy]]:
    """A dashboard of its own whose Docker is the lab's, behind a proxy that can cut log streams."""
    proxy = CuttingProxy(lab.sock(1), tmp_path / "proxy.sock").start()
    try:
        d = Dashboard(proxy.docker_host, tmp_path / "dashboard")
        d.start()
        try:
            yield d, proxy
        finally:
            d.stop()
    finally:
        proxy.stop()


async def test_it_says_the_log_ended_cut_short_and_the_download_says_so_too(
    swarm: Swarm, browser: Any, proxied_dashboard: tuple[Dashboard, CuttingProxy]
) -> None:
    dashboard, proxy = proxied_dashboard
    name, _ = await service(swarm, "chatty", command=CHATTY)
    task_id = await _task_in(swarm, name, "running")
    await asyncio.sleep(1)  # lines enough for the cut
    proxy.cut = Cut(frames=5, into=8 + STAMP + 3)  # five whole lines, then a header, a timestamp, "out" or "err"
    async with signed_in(browser, dashboard, "viewer") as page:
        await page.goto(f"{dashboard.url}/tasks/{task_id}/")
        status = page.locator('.logs-status[data-state="ended"]')
        await status.wait_for(timeout=20000)
        assert await status.text_content() == f"ended: {CUT_NOTICE}"
        texts = await _log_texts(page, "#task-page")
        assert len(texts) == 6 and all(re.fullmatch(r"(out|err) \d+", t) for t in texts[:5]), texts
        assert texts[5] in ("out", "err")
        response = await page.request.get(f"{dashboard.url}/tasks/{task_id}/logs.txt")
        assert response.ok
        rows = (await response.text()).splitlines()
        assert len(rows) == 7 and rows[5].endswith((" stdout out", " stderr err")), rows
        assert rows[6] == f"# {CUT_NOTICE}"
    assert proxy.log_streams == 2
