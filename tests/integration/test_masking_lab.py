"""One masking rule wherever a viewer sees a task or its service, on the real lab through the real
ASGI application: a service whose env, labels, arguments, log options, volume options, healthcheck
and placement hold secrets shows none of them to a viewer - panel, task page, inspect JSON, log
download, /api/snapshot, the grid and the socket's model - and an operator reveals each, on the
record (the audit log names the value's path, never the value).

Before: only env values were masked; the rest was shown in clear to every viewer. Then (review):
redis' ``--requirepass x``, a URL whose password holds ``@`` and the health check's output were.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from dashboard.core.masking import MASK
from dashboard.models import AuditEntry
from tests.integration.test_consumer import snapshot
from tests.integration.test_logs_lab import download, one_task, runtime_on
from tests.lab import Lab, Swarm, wait_until
from visualizer.asgi import application

MARK = "hunter2"  # in every secret below, and nowhere else
ORIGIN = (b"origin", b"http://localhost")
HEALTH_CMD = f"echo connected --password out-{MARK}; test -n health-{MARK}"
NODE_LABEL = ("db_password", f"node-{MARK}")
SECRETS = {  # JSON Pointer into the task's inspect JSON -> what an operator's reveal gives
    "/Spec/ContainerSpec/Env/0": f"DB_PASSWORD=env-{MARK}",
    "/Spec/ContainerSpec/Labels/api_key": f"clabel-{MARK}",
    "/Spec/ContainerSpec/Args/4": f"--password=arg-{MARK}",
    "/Spec/ContainerSpec/Args/6": f"flag-{MARK}",
    "/Spec/ContainerSpec/Args/9": f"redis-{MARK}",
    "/Spec/ContainerSpec/Args/10": f"--cache=redis://:p@{MARK}@cache:6379",
    "/Spec/ContainerSpec/Healthcheck/Test/1": HEALTH_CMD,
    "/Spec/LogDriver/Options/labels": f"logopt-{MARK}",
    "/Spec/ContainerSpec/Mounts/0/VolumeOptions/DriverConfig/Options/device": f"dev-{MARK}",
    "/Spec/Placement/Constraints/0": f"node.labels.db_password=={NODE_LABEL[1]}",
}


@pytest.fixture
async def direct(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async with runtime_on(lab.docker_host, monkeypatch):
        yield


@pytest.fixture
def node_label(lab: Lab) -> Iterator[str]:
    """A secret-looking label on the manager (swarm-n1), removed afterwards."""
    key, value = NODE_LABEL
    lab.docker("node", "update", "--label-add", f"{key}={value}", "swarm-n1")
    try:
        yield value
    finally:
        lab.docker("node", "update", "--label-rm", key, "swarm-n1")


def secretive_service(swarm: Swarm) -> str:
    volume = swarm.name("vol")
    return swarm.create_service(
        "secretive",
        command=("sh", "-c", "sleep 100000", "sh", f"--password=arg-{MARK}", "--token", f"flag-{MARK}", "-v",
                 "--requirepass", f"redis-{MARK}", f"--cache=redis://:p@{MARK}@cache:6379"),
        extra=(
            "--env", f"DB_PASSWORD=env-{MARK}", "--env", "MODE=plain",
            "--label", f"db.password=svclabel-{MARK}", "--label", "tier=plain",
            "--container-label", f"api_key=clabel-{MARK}", "--container-label", "role=plain",
            "--health-cmd", HEALTH_CMD, "--health-interval", "1s",
            "--log-driver", "json-file", "--log-opt", f"labels=logopt-{MARK}",
            "--mount", f"type=volume,source={volume},target=/data,volume-driver=local,volume-opt=type=tmpfs,"
            f"volume-opt=device=dev-{MARK},volume-opt=o=size=1m",
            "--constraint", f"node.labels.db_password=={NODE_LABEL[1]}",
        ),
    )  # fmt: skip


def checked_once(swarm: Swarm, task_id: str) -> None:
    """Until the container's health check has run once (it runs every second), so its output shows."""

    def container() -> str:
        task = swarm.lab.api(f"/tasks/{task_id}")
        return str(task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID", ""))

    container_id = wait_until(container, timeout=30, what="the task's container")
    log = ("inspect", "--format", "{{json .State.Health.Log}}", container_id)
    wait_until(lambda: swarm.lab.docker(*log) not in ("", "[]", "null"), timeout=30, what="a health check's output")


@database_sync_to_async
def user(name: str, role: str) -> Any:
    from dashboard.access.roles import set_role

    found, _ = get_user_model().objects.get_or_create(username=name)
    set_role(found, role)
    return found


async def signed_in(name: str, role: str) -> AsyncClient:
    client = AsyncClient()
    await sync_to_async(client.force_login)(await user(name, role))
    return client


@database_sync_to_async
def session_cookie(name: str) -> bytes:
    client = Client()
    client.force_login(get_user_model().objects.get(username=name))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def socket_model(name: str) -> dict[str, Any]:
    communicator = WebsocketCommunicator(
        application, "/ws/swarm", headers=[ORIGIN, (b"cookie", await session_cookie(name))]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    try:
        return await snapshot(communicator)
    finally:
        await communicator.disconnect()


async def reveal(client: AsyncClient, task_id: str, path: str) -> Any:
    return await client.post(f"/tasks/{task_id}/reveal", {"path": path})  # CSRF: the browser test


@database_sync_to_async
def reveals() -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.actor, e.target, e.detail) for e in AuditEntry.objects.filter(action="value.reveal").order_by("id")]


@pytest.mark.django_db(transaction=True)
async def test_it_masks_every_secret_of_a_task_for_viewers_and_reveals_each_to_operators_on_the_record(
    direct: None, swarm: Swarm, node_label: str
) -> None:
    name = await asyncio.to_thread(secretive_service, swarm)
    task_id = await one_task(swarm, name, "running")
    await asyncio.to_thread(checked_once, swarm, task_id)

    viewer = await signed_in("mask-viewer", "viewer")
    bodies: dict[str, str] = {}
    for path in (f"/tasks/{task_id}/", f"/tasks/{task_id}/panel", f"/tasks/{task_id}/panel?part=details",
                 f"/tasks/{task_id}/inspect", "/api/snapshot", "/"):  # fmt: skip
        response = await viewer.get(path)
        assert response.status_code == 200, (path, response.status_code)
        bodies[path] = response.content.decode()
    bodies["logs.txt"] = await download(task_id)
    bodies["socket"] = json.dumps(await socket_model("mask-viewer"), ensure_ascii=False)
    for where, body in bodies.items():
        assert MARK not in body, f"{where} shows a secret: {re.findall(r'.{40}' + MARK + '.{10}', body)[:3]}"

    # what is masked is still there to see that it exists, and how it is named
    inspect = json.loads(bodies[f"/tasks/{task_id}/inspect"])
    spec = inspect["Spec"]["ContainerSpec"]
    assert spec["Env"] == [f"DB_PASSWORD={MASK}", f"MODE={MASK}"]  # every env value, secret-looking or not
    assert spec["Labels"] == {"api_key": MASK, "role": "plain"}
    assert spec["Args"][4:] == [f"--password={MASK}", "--token", MASK, "-v", "--requirepass", MASK,
                                f"--cache=redis://:{MASK}@cache:6379"]  # fmt: skip
    # the last check's output, on the panel of a task on the node the dashboard talks to: no reveal
    assert f"connected --password {MASK}" in bodies[f"/tasks/{task_id}/panel?part=details"]
    assert spec["Healthcheck"]["Test"] == ["CMD-SHELL", MASK]
    assert inspect["Spec"]["LogDriver"]["Options"] == {"labels": MASK}
    assert inspect["Spec"]["Placement"]["Constraints"] == [f"node.labels.db_password=={MASK}"]
    socket = json.loads(bodies["socket"])
    service = next(s for s in socket["services"] if s["name"] == name)
    assert service["labels"] == {"db.password": MASK, "tier": "plain"}
    manager = next(n for n in socket["nodes"] if n["hostname"] == "swarm-n1")
    assert manager["labels"]["db_password"] == MASK
    page = bodies[f"/tasks/{task_id}/"]
    assert all(f'data-path="{path}"' in page for path in SECRETS), "every masked value is named in the page"
    assert 'class="reveal' not in page  # a viewer is not offered a reveal

    refused = await reveal(viewer, task_id, "/Spec/ContainerSpec/Env/0")
    assert refused.status_code == 403 and MARK not in refused.content.decode()
    assert refused["Cache-Control"] == "no-store"

    operator = await signed_in("mask-operator", "operator")
    page = (await operator.get(f"/tasks/{task_id}/")).content.decode()
    assert all(f'<button type="button" class="reveal link" data-path="{path}"' in page for path in SECRETS)
    for path, clear in SECRETS.items():
        answer = await reveal(operator, task_id, path)
        assert answer.status_code == 200, (path, answer.content)
        assert answer.json() == {"path": path, "value": clear}
        assert answer["Cache-Control"] == "no-store"
    assert (await reveal(operator, task_id, "/Spec/ContainerSpec/Labels/role")).status_code == 404  # not masked
    assert (await reveal(operator, task_id, "/Spec/Nothing")).status_code == 404
    for malformed in ("", "Spec/ContainerSpec/Env/0", "/Spec/~2", "/" * 2000):
        assert (await reveal(operator, task_id, malformed)).status_code == 400
    rows = await reveals()
    assert rows == [("mask-operator", f"task {task_id}", {"path": path}) for path in SECRETS]
    assert MARK not in str(rows)
