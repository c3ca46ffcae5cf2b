"""The socket's heartbeat: an idle swarm sends nothing, and a page must tell that from a dead line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


async def open_socket(query: str) -> WebsocketCommunicator:
    from visualizer.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/swarm{query}", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    first = json.loads(await communicator.receive_from(timeout=5))
    assert (first["type"], first["more"]) == ("snapshot", False)
    return communicator


@override_settings(ANONYMOUS_READ_ONLY=True, SWARM_HEARTBEAT_SECONDS=0.2)
async def test_it_sends_a_heartbeat_after_every_quiet_spell_to_a_socket_that_asks(static_model: Any) -> None:
    communicator = await open_socket("?heartbeat=1")
    beats = [json.loads(await communicator.receive_from(timeout=2)) for _ in range(2)]
    assert beats == [{"type": "heartbeat", "seq": 1, "state": "live", "every": 0.2}] * 2
    assert len(json.dumps(beats[0], separators=(",", ":"))) < 80  # bytes, not kilobytes
    await communicator.disconnect()


@override_settings(ANONYMOUS_READ_ONLY=True, SWARM_HEARTBEAT_SECONDS=0.2)
async def test_it_sends_no_heartbeat_to_a_socket_that_does_not_ask(static_model: Any) -> None:
    communicator = await open_socket("")
    assert await communicator.receive_nothing(timeout=0.6)
    await communicator.disconnect()
