"""Budgets of the swarm socket over a fixed model: resyncs rationed and coalesced, and the token
bucket they use. (Against daphne with raw clients: tests/integration/test_socket_budgets.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from dashboard.live import swarm_socket
from dashboard.live.budget import Bucket

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


def test_it_gives_a_burst_then_a_steady_rate() -> None:
    now = [100.0]
    bucket = Bucket(3, 0.2, lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait() == pytest.approx(5.0)
    now[0] += 4.9
    assert not bucket.take()
    now[0] += 0.1
    assert bucket.take() and not bucket.take()
    now[0] += 1000
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]  # never more than the burst
    with pytest.raises(ValueError, match="burst"):
        Bucket(0, 1, lambda: 0.0)


@override_settings(ANONYMOUS_READ_ONLY=True)
async def test_it_answers_resyncs_beyond_the_budget_with_one_model_later(
    static_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(swarm_socket, "RESYNC_EVERY_SECONDS", 0.5)
    from visualizer.asgi import application

    socket = WebsocketCommunicator(application, "/ws/swarm", headers=[ORIGIN])
    assert (await socket.connect(timeout=5))[0]
    assert json.loads(await socket.receive_from(timeout=5))["type"] == "snapshot"
    for _ in range(10):
        await socket.send_to(text_data='{"type": "resync"}')
    got = [json.loads(await socket.receive_from(timeout=5)) for _ in range(5)]
    assert [m["type"] for m in got] == ["snapshot"] * 3 + ["error", "snapshot"]
    assert got[3]["error"].startswith("too many resyncs (at most 3, then one every 0.5 s): the model follows in")
    assert await socket.receive_nothing(timeout=1)  # the other six went into that one model
    await socket.disconnect()
