"""Followed task logs hold a Docker connection each: at most so many per user and per process, all
through the swarm's one log client, refused beyond with a code and a reason the panel shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from dashboard import access, runtime
from dashboard.live import log_socket
from dashboard.live.log_socket import TaskLogsConsumer

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
TASK = "t" * 25


def _cookie(username: str) -> str:
    model = get_user_model()
    user = model.objects.filter(username=username).first() or model.objects.create_user(username=username)
    access.set_role(user, "viewer")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
async def following(static_model: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Any]]:
    """Every log socket follows a stream that never ends (as Docker's followed streams do), on the
    swarm's log client; the list holds the clients the sockets used."""
    used: list[Any] = []

    async def follow_for_ever(self: TaskLogsConsumer, task_id: str, tail: int) -> None:
        used.append(self.client)
        await asyncio.Event().wait()

    monkeypatch.setattr(TaskLogsConsumer, "_follow", follow_for_ever)
    yield used
    assert log_socket.open_sockets == {}, "a closed socket is still counted"


async def open_logs(cookie: str) -> tuple[WebsocketCommunicator, dict[str, Any] | None]:
    """The socket, and the close it got at once (None: it follows)."""
    from visualizer.asgi import application

    socket = WebsocketCommunicator(
        application, f"/ws/tasks/{TASK}/logs", headers=[ORIGIN, (b"cookie", cookie.encode())]
    )
    assert (await socket.connect(timeout=5))[0]
    if await socket.receive_nothing(timeout=0.3):
        return socket, None
    first = await socket.receive_output(timeout=1)
    error = json.loads(first["text"])
    closed = await socket.receive_output(timeout=1)
    return socket, {"code": closed["code"], "error": error["error"]}


@override_settings(LOG_SOCKETS_PER_USER=2, LOG_SOCKETS_PER_PROCESS=3)
async def test_it_caps_log_sockets_per_user_and_per_process(following: list[Any]) -> None:
    ann, bob = await sync_to_async(_cookie)("ann"), await sync_to_async(_cookie)("bob")
    sockets = []
    for _ in range(2):
        socket, refused = await open_logs(ann)
        assert refused is None
        sockets.append(socket)
    socket, refused = await open_logs(ann)
    assert refused == {
        "code": 4429,
        "error": "too many log streams: at most 2 at once per user; close another log panel",
    }
    socket, refused = await open_logs(bob)
    assert refused is None
    sockets.append(socket)
    _, refused = await open_logs(bob)
    assert refused == {"code": 4429, "error": "too many log streams on this server (at most 3); try again later"}
    await sockets.pop(0).disconnect()  # ann closes a panel: room for one more
    socket, refused = await open_logs(bob)
    assert refused is None
    sockets.append(socket)
    # every stream went through the swarm's one log client
    assert len(following) == 4 and all(c is runtime.swarm().logs_client for c in following)
    for socket in sockets:
        await socket.disconnect()


async def test_it_closes_a_log_socket_when_its_user_signs_out(following: list[Any]) -> None:
    from visualizer.asgi import application

    client = Client()
    user = await sync_to_async(get_user_model().objects.create_user)(username="cat")
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(application, f"/ws/tasks/{TASK}/logs", headers=[ORIGIN, (b"cookie", cookie)])
    assert (await socket.connect(timeout=5))[0]
    await sync_to_async(client.logout)()
    said = json.loads(await socket.receive_from(timeout=10))
    # the sign-out's signal says so at once; on a loaded machine the periodic recheck (every 3 s) may
    # find the session gone first: either way the socket says why and closes
    assert said in (
        {"type": "error", "error": "you signed out"},
        {"type": "error", "error": "your session has ended: sign in again"},
    )
    assert await socket.receive_output(timeout=10) == {"type": "websocket.close", "code": 4401}
    await socket.disconnect()


async def test_it_refuses_a_log_socket_without_a_session_with_a_reason(static_model: Any) -> None:
    from visualizer.asgi import application

    socket = WebsocketCommunicator(application, f"/ws/tasks/{TASK}/logs", headers=[ORIGIN])
    assert (await socket.connect(timeout=5))[0]
    assert json.loads(await socket.receive_from(timeout=10)) == {"type": "error", "error": "sign in to read task logs"}
    assert await socket.receive_output(timeout=10) == {"type": "websocket.close", "code": 4401}
