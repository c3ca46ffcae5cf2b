"""The secrets panel on the real lab: create, used-by, refused removal, rotation, and no value anywhere."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from tests.browser.conftest import Dashboard, as_read
from tests.browser.test_task_details import _csrf
from tests.lab import Lab, Swarm, wait_until

FIRST = f"first-value-{uuid.uuid4().hex}"
SECOND = f"second-value-{uuid.uuid4().hex}"


def row(name: str) -> str:
    return f'#secrets-table tr[data-secret-name="{name}"]'


async def container_file(lab: Lab, swarm: Swarm, service: str, path: str, secret_id: str) -> str:
    """The file as a running task of ``service`` that uses ``secret_id`` sees it (on whichever node)."""

    def running_task() -> dict[str, Any] | None:
        for t in swarm.tasks(service):
            refs = t["Spec"]["ContainerSpec"].get("Secrets", [])
            if t["Status"]["State"] == "running" and any(r["SecretID"] == secret_id for r in refs):
                return t
        return None

    task = await asyncio.to_thread(wait_until, running_task, timeout=40, what=f"a task of {service} on {secret_id}")
    node = next(i for i in (1, 2, 3) if lab.api("/info", node=i)["Swarm"]["NodeID"] == task["NodeID"])
    cid = task["Status"]["ContainerStatus"]["ContainerID"]
    return await asyncio.to_thread(lab.docker, "exec", cid, "cat", path, node=node)


async def test_it_creates_shows_users_refuses_removal_and_rotates_without_leaking_the_value(
    lab: Lab, swarm: Swarm, page: Any, operator_page: Any, dashboard: Dashboard
) -> None:
    received: list[str | bytes] = []
    operator_page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(payload)))
    name = f"db-{uuid.uuid4().hex[:6]}"
    swarm.secrets += [name, f"{name}.v2"]  # removed after the test whatever happens
    await operator_page.goto(f"{dashboard.url}/secrets/")
    await operator_page.fill("#create-secret [name=name]", name)
    await operator_page.fill("#create-secret [name=labels]", "team=core\nenv=<b>test</b>")
    await operator_page.fill("#create-secret [name=value]", FIRST)
    await operator_page.click("#create-secret button[type=submit]")
    await operator_page.wait_for_selector(row(name), timeout=10000)
    labels = await operator_page.text_content(f"{row(name)} .labels") or ""
    assert "team=core" in labels and "env=<b>test</b>" in labels
    assert await operator_page.input_value("#create-secret [name=value]") == ""
    secret_id = await operator_page.get_attribute(row(name), "data-secret-id")
    assert secret_id

    # a service starts using it: the page shows it without a reload
    await operator_page.evaluate("window.__sameDocument = true")
    service = await asyncio.to_thread(swarm.create_service, "uses", extra=("--secret", f"source={name},target=db"))
    await operator_page.wait_for_selector(f'{row(name)} .users .user:has-text("{service}")', timeout=15000)
    assert await operator_page.evaluate("window.__sameDocument") is True
    assert await container_file(lab, swarm, service, "/run/secrets/db", secret_id) == FIRST

    # removing it while used is refused, naming the service
    await operator_page.goto(f"{dashboard.url}/secrets/{secret_id}/remove")
    assert service in (await operator_page.text_content(".refusal") or "")
    forced = await operator_page.request.post(
        f"{dashboard.url}/secrets/{secret_id}/remove",
        form={"csrfmiddlewaretoken": await _csrf(operator_page)},
        headers={"Referer": f"{dashboard.url}/secrets/"},
    )
    assert forced.status == 409 and service in await forced.text()

    # rotate: a new version, the service rolls over to it at the same path, the old one is removable
    await operator_page.goto(f"{dashboard.url}/secrets/{secret_id}/rotate")
    await operator_page.fill("#rotate-secret [name=value]", SECOND)
    await operator_page.click("#rotate-secret button[type=submit]")
    await operator_page.wait_for_selector(row(f"{name}.v2"), timeout=10000)
    new_id = await operator_page.get_attribute(row(f"{name}.v2"), "data-secret-id")
    assert new_id
    assert await container_file(lab, swarm, service, "/run/secrets/db", new_id) == SECOND
    await operator_page.wait_for_selector(f"{row(name)} .unused", timeout=30000)
    await operator_page.click(f"{row(name)} a.remove")
    await operator_page.click("button.danger")
    await operator_page.wait_for_selector(f"{row(f'{name}.v2')}", timeout=10000)
    assert await operator_page.locator(row(name)).count() == 0
    assert name not in (await asyncio.to_thread(lab.docker, "secret", "ls", "--format", "{{.Name}}")).split()

    # the values are nowhere: pages, JSON, socket frames, the log, the database
    bodies = [await operator_page.content()]
    tasks = await asyncio.to_thread(swarm.tasks, service)
    for path in ("/", "/secrets/", "/api/snapshot", f"/tasks/{tasks[0]['ID']}/", f"/tasks/{tasks[0]['ID']}/inspect"):
        bodies.append(await (await operator_page.request.get(dashboard.url + path)).text())
    dump = _database_dump(Path(dashboard.env["DATA_DIR"]) / "db.sqlite3")
    for text in [*bodies, *as_read(received), dashboard.log.read_text(), dump]:
        assert FIRST not in text and SECOND not in text
    assert {"secret.create", "secret.rotate", "secret.remove", "service.update"} <= set(_actions(dump))

    # a viewer reads but cannot write
    await page.goto(f"{dashboard.url}/secrets/")
    assert await page.locator(row(f"{name}.v2")).count() == 1
    assert await page.locator("#create-secret").count() == 0
    token = await _csrf(page)
    headers = {"Referer": f"{dashboard.url}/secrets/"}
    for path, form in (
        ("/secrets/create", {"name": "nope", "value": "x"}),
        (f"/secrets/{new_id}/remove", {}),
        (f"/secrets/{new_id}/rotate", {"value": "x", "service": "y"}),
    ):
        response = await page.request.post(
            dashboard.url + path, form={**form, "csrfmiddlewaretoken": token}, headers=headers
        )
        assert response.status == 403, path
    # and an operator without the CSRF token is refused too
    no_token = await operator_page.request.post(f"{dashboard.url}/secrets/create", form={"name": "n", "value": "x"},
                                                headers=headers)  # fmt: skip
    assert no_token.status == 403


def _database_dump(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


def _actions(dump: str) -> list[str]:
    return [line.split("'")[5] for line in dump.splitlines() if line.startswith('INSERT INTO "dashboard_auditentry"')]


async def test_it_shows_config_data_to_operators_only_each_look_audited(
    lab: Lab, swarm: Swarm, page: Any, operator_page: Any, dashboard: Dashboard
) -> None:
    name = f"conf-{uuid.uuid4().hex[:6]}"
    data = f"listen 8080 # password={uuid.uuid4().hex}"
    await asyncio.to_thread(_create_config, lab, name, data.encode())
    try:
        for viewer in (page, operator_page):
            await viewer.goto(f"{dashboard.url}/secrets/")
            link = viewer.locator(f'#configs-table a:has-text("{name}")')
            await link.wait_for(timeout=10000)
            await link.click()
            await viewer.wait_for_selector("h2:has-text('Config')")
        # a viewer sees the config's name and users, and why there is no more
        assert name in (await page.text_content("h2") or "")
        assert "operators only" in (await page.text_content("#config-data-hidden") or "")
        assert data not in await page.content() and await page.locator(".config-data").count() == 0
        assert data in (await operator_page.text_content(".config-data") or "")
        dump = await asyncio.to_thread(_database_dump, Path(dashboard.env["DATA_DIR"]) / "db.sqlite3")
        looks = [line for line in dump.splitlines() if "'config.view'" in line and f"'{name}'" in line]
        assert len(looks) == 1 and "'operator'" in looks[0]  # the operator's look, not the viewer's
        assert data not in dump
    finally:
        await asyncio.to_thread(lab.docker, "config", "rm", name, check=False)


def _create_config(lab: Lab, name: str, data: bytes) -> None:
    import subprocess

    from tests.lab import DOCKER

    subprocess.run([DOCKER, "-H", lab.docker_host, "config", "create", name, "-"], input=data, check=True, timeout=30,
                   capture_output=True)  # fmt: skip
