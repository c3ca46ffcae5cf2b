"""Read-only sockets against the real lab: a kiosk screen's frames carry only what the grid and the
wall draw, and a filtered wall's frames only its own services, nodes and seq-continuous patches."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore

from dashboard import access
from tests.integration.test_consumer import ORIGIN, live_runtime, session_cookie
from tests.lab import Lab, Swarm
from visualizer.asgi import application

__all__ = ["live_runtime"]  # the fixture, shared with test_consumer

BASIC_AUTH = "admin:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
LAB_ADDRESSES = "198.51.100."  # every lab node's address starts so


@database_sync_to_async
def kiosk_cookie(name: str) -> bytes:
    """The session a screen holds once its kiosk URL was exchanged (dashboard.pages.grid)."""
    token, _ = access.create_token(name, created_by="test")
    session = SessionStore()
    session[access.SESSION_KEY] = token.pk
    session.save()
    return f"sessionid={session.session_key}".encode()


class Recorder:
    """A socket's raw frames, and the model they build as a page builds it (seq after seq)."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[str] = []
        self.seq: int | None = None
        self.model: dict[str, dict[str, Any]] = {"nodes": {}, "services": {}, "tasks": {}}

    @classmethod
    async def open(cls, cookie: bytes, query: str = "") -> Recorder:
        communicator = WebsocketCommunicator(application, f"/ws/swarm{query}", headers=[ORIGIN, (b"cookie", cookie)])
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        return cls(communicator)

    async def next(self) -> dict[str, Any]:
        text = await self.communicator.receive_from(timeout=10)
        self.frames.append(text)
        message: dict[str, Any] = json.loads(text)
        if message["type"] in ("snapshot", "tasks"):
            if message["type"] == "snapshot":
                self.model = {kind: {} for kind in self.model}
                self.seq = message["seq"]
            for kind, items in self.model.items():
                items.update((x["id"], x) for x in message[kind])
        elif message["type"] == "patch" and self.seq is not None and message["seq"] > self.seq:
            assert message["base_seq"] == self.seq, "a seq gap: the page would have to ask for the whole model"
            for kind, items in self.model.items():
                for item_id in message[kind]["removed"]:
                    items.pop(item_id, None)
                items.update((x["id"], x) for x in message[kind]["upsert"])
            self.seq = message["seq"]
        return message

    async def until(self, predicate: Any, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.model):
                await self.next()

    def text(self) -> str:
        return "\n".join(self.frames)


def running_of(service_id: str) -> Any:
    def check(model: dict[str, dict[str, Any]]) -> int:
        return sum(1 for t in model["tasks"].values() if t["service_id"] == service_id and t["state"] == "running")

    return check


@pytest.fixture
def node_label(lab: Lab) -> Iterator[str]:
    value = f"rack-{uuid.uuid4().hex[:8]}"
    lab.docker("node", "update", "--label-add", f"kiosk-test={value}", "swarm-n2")
    yield value
    lab.docker("node", "update", "--label-rm", "kiosk-test", "swarm-n2", check=False)


@pytest.mark.django_db(transaction=True)
async def test_it_sends_a_kiosk_socket_no_label_no_address_no_secret_name_and_a_signed_in_one_all(
    live_runtime: None, swarm: Swarm, node_label: str
) -> None:
    kiosk = await Recorder.open(await kiosk_cookie(f"lobby-{uuid.uuid4().hex[:6]}"))
    user = await Recorder.open(await session_cookie())
    for socket in (kiosk, user):
        await socket.until(lambda m: len(m["nodes"]) == 3)
    secret = await asyncio.to_thread(swarm.create_secret, "kiosk-pw", b"hunter2")
    labels = ("--label", f"traefik.http.middlewares.auth.basicauth.users={BASIC_AUTH}", "--secret", secret)
    name = await asyncio.to_thread(swarm.create_service, "labelled", replicas=2, extra=labels)
    sid = await asyncio.to_thread(swarm.service_id, name)
    for socket in (kiosk, user):
        await socket.until(lambda m: running_of(sid)(m) == 2)
        assert socket.model["services"][sid]["name"] == name  # both see what the grid draws
    seen = kiosk.text()
    for leak in ("basicauth", BASIC_AUTH.split("$")[-1], LAB_ADDRESSES, node_label, secret, '"secrets"', '"configs"'):
        assert leak not in seen, leak
    whole = user.text()
    for shown in ("basicauth", LAB_ADDRESSES, node_label, secret):
        assert shown in whole, shown
    assert BASIC_AUTH.split("$")[-1] not in whole  # the label's value is masked for everyone (SECRET_PATTERNS)
    for socket in (kiosk, user):
        await socket.communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_sends_a_filtered_wall_only_its_stack_in_patches_that_follow_each_other(
    live_runtime: None, swarm: Swarm
) -> None:
    stack = f"st{uuid.uuid4().hex[:6]}"
    in_stack = ("--label", f"com.docker.stack.namespace={stack}")
    shown = await asyncio.to_thread(swarm.create_service, "shown", replicas=1, extra=in_stack)
    other = await asyncio.to_thread(swarm.create_service, "other", replicas=1)
    await asyncio.to_thread(swarm.wait_running, other, 1)
    shown_id, other_id = [await asyncio.to_thread(swarm.service_id, n) for n in (shown, other)]
    wall = await Recorder.open(await kiosk_cookie(f"wall-{uuid.uuid4().hex[:6]}"), f"?stack={stack}&heartbeat=1")
    await wall.until(lambda m: running_of(shown_id)(m) == 1)
    assert set(wall.model["services"]) == {shown_id}

    def nodes_hold_its_tasks(model: dict[str, dict[str, Any]]) -> bool:
        return set(model["nodes"]) == {t["node_id"] for t in model["tasks"].values()} - {""}

    assert nodes_hold_its_tasks(wall.model) and len(wall.model["nodes"]) == 1
    await asyncio.to_thread(swarm.scale, other, 3)  # changes the wall does not show: patches all the same
    await asyncio.to_thread(swarm.wait_running, other, 3)
    await asyncio.to_thread(swarm.scale, shown, 3)
    await wall.until(lambda m: running_of(shown_id)(m) == 3 and len(m["nodes"]) == 3)
    assert nodes_hold_its_tasks(wall.model)
    assert other not in wall.text() and other_id not in wall.text()
    # the other service joins the stack: its tasks come, in a patch that follows the last
    await asyncio.to_thread(
        swarm.lab.docker, "service", "update", "--detach", "--label-add", f"com.docker.stack.namespace={stack}", other
    )
    await wall.until(lambda m: other_id in m["services"] and running_of(other_id)(m) == 3)
    await wall.communicator.disconnect()
