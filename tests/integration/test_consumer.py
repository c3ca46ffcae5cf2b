"""The websocket endpoint, driven through the real ASGI application against the real lab."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard import runtime
from dashboard.live import protocol as messages
from tests.lab import Lab, Swarm
from visualizer.asgi import application

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
async def live_runtime(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setenv("DOCKER_HOST", lab.docker_host)
    await runtime.stop()
    yield
    await runtime.stop()


@database_sync_to_async
def session_cookie() -> bytes:
    user, _ = get_user_model().objects.get_or_create(username="ws-viewer")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(*headers: tuple[bytes, bytes]) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(application, "/ws/swarm", headers=list(headers))
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def receive(communicator: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return dict(json.loads(await communicator.receive_from(timeout=timeout)))


async def reply(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """The next message that is not a patch (the swarm may be moving meanwhile)."""
    while True:
        message = await receive(communicator)
        if message["type"] != "patch":
            return message


async def snapshot(communicator: WebsocketCommunicator) -> dict[str, Any]:
    first = await reply(communicator)
    assert first["type"] == "snapshot"
    whole = {kind: list(first[kind]) for kind in ("nodes", "services", "tasks")}
    more = first["more"]
    while more:
        chunk = await receive(communicator)
        assert (chunk["type"], chunk["seq"]) == ("tasks", first["seq"])
        for kind in whole:
            whole[kind] += chunk[kind]
        more = chunk["more"]
    return {**first, **whole}


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_socket_without_a_login(live_runtime: None) -> None:
    communicator, connected, _ = await connect(ORIGIN)
    assert connected  # only to say why: a refused handshake reaches a page as 1006, which it retries
    assert (await receive(communicator))["type"] == "error"
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_foreign_origin(live_runtime: None) -> None:
    cookie = await session_cookie()
    _communicator, connected, _ = await connect((b"origin", b"http://evil.example"), (b"cookie", cookie))
    assert not connected


@pytest.mark.django_db(transaction=True)
async def test_it_sends_the_model_then_patches_in_seq_order(live_runtime: None, lab: Lab, swarm: Swarm) -> None:
    communicator, connected, _ = await connect(ORIGIN, (b"cookie", await session_cookie()))
    assert connected
    first = await snapshot(communicator)
    assert {n["hostname"] for n in first["nodes"]} == {"swarm-n1", "swarm-n2", "swarm-n3"}
    assert first["status"]["state"] == "live"
    name = await asyncio.to_thread(swarm.create_service, "pushed", replicas=2)
    sid = await asyncio.to_thread(swarm.service_id, name)
    seq = first["seq"]
    seen: set[str] = set()
    async with asyncio.timeout(15):
        while len(seen) < 2:
            patch = await receive(communicator)
            assert patch["type"] == "patch"
            if patch["seq"] <= seq:
                continue  # queued while the model was being sent: already in it, as the page knows
            assert patch["base_seq"] == seq, "patches must follow each other without a gap"
            seq = patch["seq"]
            seen |= {t["id"] for t in patch["tasks"]["upsert"] if t["service_id"] == sid and t["state"] == "running"}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_answers_a_malformed_frame_with_an_error_and_stays_up(live_runtime: None) -> None:
    communicator, connected, _ = await connect(ORIGIN, (b"cookie", await session_cookie()))
    assert connected
    await snapshot(communicator)
    for frame in ("not json", "[1, 2]", '{"type": "drop-tables"}', '{"no": "type"}', "\x00" * 10):
        await communicator.send_to(text_data=frame)
        answer = await reply(communicator)
        assert answer["type"] == "error"
        assert "malformed frame" in answer["error"]
    await communicator.send_to(bytes_data=b"\x00\xff")
    assert (await reply(communicator))["type"] == "error"
    await communicator.send_to(text_data='{"type": "ping"}')
    assert (await reply(communicator))["type"] == "pong"
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_resends_the_model_in_chunks_when_asked_to_resync(
    live_runtime: None, swarm: Swarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = await asyncio.to_thread(swarm.create_service, "many", replicas=5)
    await asyncio.to_thread(swarm.wait_running, name, 5)
    monkeypatch.setattr(messages, "TASKS_PER_FRAME", 2)
    monkeypatch.setattr("dashboard.live.frames.TASKS_PER_FRAME", 2)
    monkeypatch.setattr("dashboard.live.frames.ITEMS_PER_FRAME", 1)
    communicator, connected, _ = await connect(ORIGIN, (b"cookie", await session_cookie()))
    assert connected
    whole = await snapshot(communicator)
    await communicator.send_to(text_data='{"type": "resync"}')
    again = await snapshot(communicator)
    assert len(again["tasks"]) >= 5
    assert len(again["nodes"]) == 3  # one node a frame, all of them assembled
    assert again["seq"] >= whole["seq"]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_tells_with_the_model_and_every_heartbeat_how_long_ago_docker_answered(
    live_runtime: None, settings: Any
) -> None:
    """The status says "live" until a request to Docker fails; the age says how fresh "live" is."""
    settings.SWARM_HEARTBEAT_SECONDS = 0.5
    communicator = WebsocketCommunicator(
        application, "/ws/swarm?heartbeat=1", headers=[ORIGIN, (b"cookie", await session_cookie())]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    first = await snapshot(communicator)
    assert first["status"]["state"] == "live"
    assert 0 <= first["docker_age"] < 2  # the model was listed a moment ago
    assert first["docker_every"] == min(settings.SWARM_RECONCILE_SECONDS, settings.SWARM_EVENTS_LIVENESS_SECONDS * 0.75)
    assert first["version"] == messages.page_version()
    ages: list[float] = []
    async with asyncio.timeout(10):
        while len(ages) < 4:
            beat = await reply(communicator)
            assert beat["type"] == "heartbeat"
            ages.append(beat["docker_age"])
    # an idle swarm: Docker is heard from at the reconcile, every docker_every seconds
    assert all(0 <= age <= first["docker_every"] + 2 for age in ages), ages
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_sends_a_page_that_asks_the_same_model_packed(live_runtime: None, swarm: Swarm) -> None:
    """?pack=1 (what the pages ask for): a header, then binary parts that inflate to the very model a
    plain socket is sent, a fraction of its size."""
    name = await asyncio.to_thread(swarm.create_service, "packed", replicas=4)
    await asyncio.to_thread(swarm.wait_running, name, 4)
    cookie = (b"cookie", await session_cookie())
    plain, connected, _ = await connect(ORIGIN, cookie)
    assert connected
    packed = WebsocketCommunicator(application, "/ws/swarm?pack=1", headers=[ORIGIN, cookie])
    assert (await packed.connect(timeout=10))[0]
    whole = await snapshot(plain)
    header = await reply(packed)
    assert header["type"] == "snapshot" and header["packed"] >= 1
    assert (header["nodes"], header["services"], header["tasks"], header["more"]) == ([], [], [], False)
    parts = []
    for _ in range(header["packed"]):
        frame = await packed.receive_output(timeout=10)
        assert frame["type"] == "websocket.send" and frame.get("bytes") is not None, frame
        parts.append(frame["bytes"])
    body = json.loads(zlib.decompress(b"".join(parts)))
    # tasks travel by column: one list of values per field, rebuilt into rows as the page does
    fields, columns = body.pop("task_fields"), body.pop("task_columns")
    body["tasks"] = [dict(zip(fields, values, strict=True)) for values in zip(*columns, strict=True)]
    if header["seq"] == whole["seq"]:
        for kind in ("nodes", "services", "tasks"):
            assert sorted(body[kind], key=lambda x: x["id"]) == sorted(whole[kind], key=lambda x: x["id"])
    assert {t["id"] for t in body["tasks"]} >= {t["id"] for t in whole["tasks"] if t["desired_state"] == "running"}
    assert sum(map(len, parts)) < len(json.dumps(body)) / 3
    for communicator in (plain, packed):
        await communicator.disconnect()
