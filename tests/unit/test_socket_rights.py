"""A user's websockets end with the rights they were opened with: signing out, deactivation, a new
password, another role, a session gone - each closes them with a code the page acts on, saying why;
at once when this process saw the change, within the re-check bound when it did not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from dashboard import access
from dashboard.live import guard

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


@dataclass
class Browser:
    """One browser of a user: its session (a Client) and a socket opened with its cookie."""

    client: Client
    user: Any
    socket: WebsocketCommunicator


def _sign_in(username: str, password: str = "a-Long-pass-1234") -> tuple[Client, Any]:  # noqa: S107 - a test user
    model = get_user_model()
    user = model.objects.filter(username=username).first()
    if user is None:
        user = model.objects.create_user(username=username, password=password)
        access.set_role(user, "viewer")
    client = Client()
    assert client.login(username=username, password=password)
    return client, user


async def open_browser(username: str, path: str = "/ws/swarm") -> Browser:
    from visualizer.asgi import application

    client, user = await sync_to_async(_sign_in)(username)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(application, path, headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await socket.connect(timeout=5)
    assert connected
    if path == "/ws/swarm":
        assert json.loads(await socket.receive_from(timeout=5))["type"] == "snapshot"
    return Browser(client, user, socket)


async def closed_with(socket: WebsocketCommunicator, timeout: float = 2) -> tuple[int, str]:
    """The close code and what the error frame before it said (patches and the like skipped)."""
    said = ""
    async with asyncio.timeout(timeout):
        while True:
            out = await socket.receive_output()
            if out["type"] == "websocket.close":
                return int(out["code"]), said
            message = json.loads(out.get("text") or "{}")
            if message.get("type") == "error":
                said = message["error"]


@pytest.fixture
async def browsers(static_model: Any) -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for b in opened:
        await b.socket.disconnect()


async def test_it_closes_the_sockets_of_a_session_that_signs_out_and_no_other(browsers: list[Browser]) -> None:
    here, elsewhere = await open_browser("ann"), await open_browser("ann")  # two browsers, one user
    browsers += [here, elsewhere]
    await sync_to_async(here.client.logout)()
    assert await closed_with(here.socket) == (4401, "you signed out")
    assert await elsewhere.socket.receive_nothing(timeout=0.3)  # the other browser's session is still good


async def test_it_closes_every_socket_of_a_deactivated_user_and_no_one_else_s(browsers: list[Browser]) -> None:
    a, b, other = await open_browser("bob"), await open_browser("bob"), await open_browser("cat")
    browsers += [a, b, other]
    a.user.is_active = False
    await sync_to_async(a.user.save)()
    assert await closed_with(a.socket) == (4403, "your account was deactivated")
    assert await closed_with(b.socket) == (4403, "your account was deactivated")
    assert await other.socket.receive_nothing(timeout=0.3)


async def test_it_closes_a_user_s_sockets_when_the_password_changes(browsers: list[Browser]) -> None:
    b = await open_browser("dan")
    browsers.append(b)
    b.user.set_password("another-Long-pass-5678")
    await sync_to_async(b.user.save)()
    assert await closed_with(b.socket) == (4401, "your password was changed: sign in again")


async def test_it_closes_a_user_s_sockets_when_the_role_changes(browsers: list[Browser]) -> None:
    b = await open_browser("eve")
    browsers.append(b)
    await sync_to_async(access.set_role)(b.user, "operator")
    assert await closed_with(b.socket) == (4403, "your role has changed: reload the page")


async def test_it_closes_a_user_s_sockets_when_the_account_is_removed(browsers: list[Browser]) -> None:
    b = await open_browser("fay")
    browsers.append(b)
    await sync_to_async(b.user.delete)()
    assert await closed_with(b.socket) == (4401, "your account was removed")


async def test_it_finds_a_change_no_signal_saw_within_the_recheck_bound(
    browsers: list[Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    """manage.py in another process, another dashboard process without Redis, a session expired."""
    monkeypatch.setattr(guard, "SESSION_RECHECK_SECONDS", 0.3)
    deactivated, password, session = await open_browser("gus"), await open_browser("hal"), await open_browser("ida")
    browsers += [deactivated, password, session]
    model = get_user_model()
    await sync_to_async(model.objects.filter(username="gus").update)(is_active=False)  # no signal
    await sync_to_async(model.objects.filter(username="hal").update)(password="pbkdf2_sha256$1$x$y")
    await sync_to_async(Session.objects.filter(session_key=session.client.session.session_key).delete)()
    assert await closed_with(deactivated.socket, timeout=1.5) == (4403, "your account was deactivated")
    assert await closed_with(password.socket, timeout=1.5) == (4401, "your password was changed: sign in again")
    assert await closed_with(session.socket, timeout=1.5) == (4401, "your session has ended: sign in again")


async def test_it_tells_a_socket_without_a_session_why_before_closing_it(static_model: Any) -> None:
    from visualizer.asgi import application

    socket = WebsocketCommunicator(application, "/ws/swarm", headers=[ORIGIN])
    assert (await socket.connect(timeout=5))[0]
    assert await closed_with(socket) == (4401, "sign in to see the swarm")
