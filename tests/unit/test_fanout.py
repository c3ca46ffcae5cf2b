"""The in-process fan-out: each socket's frames in order, a bounded queue that turns into one fresh
model for a socket too slow for the swarm (never a silent gap), and models sent a few at a time."""

from __future__ import annotations

import asyncio

import pytest

from dashboard.live import fanout

pytestmark = pytest.mark.asyncio(loop_scope="function")


class Socket:
    """A socket whose writes take ``delay`` seconds each, recording what it sent."""

    models_in_flight = 0
    most_in_flight = 0

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.sent: list[str] = []
        self.outbox = fanout.Outbox(self.send_text, self.send_model)

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(self.delay)
        self.sent.append(text)

    async def send_model(self) -> None:
        Socket.models_in_flight += 1
        Socket.most_in_flight = max(Socket.most_in_flight, Socket.models_in_flight)
        try:
            await asyncio.sleep(self.delay + 0.01)
            self.sent.append("MODEL")
        finally:
            Socket.models_in_flight -= 1


async def settle(*sockets: Socket, rounds: int = 200) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.005)
        if all(not s.outbox._queue and not s.outbox._model_due for s in sockets):
            await asyncio.sleep(0.02)
            return


async def test_it_sends_the_model_then_every_patch_in_order() -> None:
    s = Socket()
    fanout.join("g", s.outbox)
    try:
        s.outbox.start(with_model=True)
        fanout.publish("g", "early")  # before the model went out: the model, read as it goes, holds it
        await settle(s)
        for i in range(5):
            assert fanout.publish("g", f"p{i}") == 1
        await settle(s)
        assert s.sent == ["MODEL", "p0", "p1", "p2", "p3", "p4"]
    finally:
        fanout.leave("g", s.outbox)
        await s.outbox.stop()


async def test_a_socket_too_slow_for_the_swarm_gets_one_fresh_model_not_a_gap() -> None:
    slow, fast = Socket(delay=0.002), Socket()
    for s in (slow, fast):
        fanout.join("g", s.outbox)
        s.outbox.start(with_model=False)
    try:
        burst = fanout.QUEUE_FRAMES * 3
        for i in range(burst):  # a swarm changing faster than the slow one reads
            fanout.publish("g", f"p{i}")
            await asyncio.sleep(0)
        await settle(slow, fast, rounds=2000)
        assert fast.sent == [f"p{i}" for i in range(burst)]  # the fast one is not held back
        assert "MODEL" in slow.sent and slow.outbox.coalesced >= 1
        # it ends holding the latest: a model standing for what it missed, then consecutive patches
        # up to the last one; and its queue never held more than its bound
        models = slow.sent.count("MODEL")
        assert 1 <= models <= burst // fanout.QUEUE_FRAMES + 1
        tail = slow.sent[len(slow.sent) - slow.sent[::-1].index("MODEL") :]
        numbers = [int(p[1:]) for p in tail]
        assert numbers == list(range(numbers[0], burst)) if numbers else True
        assert len(slow.sent) < burst
    finally:
        for s in (slow, fast):
            fanout.leave("g", s.outbox)
            await s.outbox.stop()


async def test_a_reconnect_storm_sends_a_few_models_at_a_time() -> None:
    Socket.most_in_flight = 0
    sockets = [Socket(delay=0.01) for _ in range(40)]
    for s in sockets:
        s.outbox.start(with_model=True)
    try:
        for _ in range(500):
            if all(s.sent for s in sockets):
                break
            await asyncio.sleep(0.01)
        assert all(s.sent == ["MODEL"] for s in sockets)
        assert Socket.most_in_flight == fanout.MODEL_SENDS_AT_ONCE
    finally:
        for s in sockets:
            await s.outbox.stop()


async def test_a_new_epoch_sends_every_socket_of_the_group_the_model_again() -> None:
    a, b, other = Socket(), Socket(), Socket()
    fanout.join("g", a.outbox)
    fanout.join("g", b.outbox)
    fanout.join("h", other.outbox)
    for s in (a, b, other):
        s.outbox.start(with_model=False)
    try:
        fanout.publish("g", "p1")
        await settle(a, b, other)
        fanout.reset("g")
        await settle(a, b, other)
        fanout.publish("g", "p2")
        await settle(a, b, other)
        assert a.sent == ["p1", "MODEL", "p2"] and b.sent == ["p1", "MODEL", "p2"]
        assert other.sent == []
    finally:
        for group, s in (("g", a), ("g", b), ("h", other)):
            fanout.leave(group, s.outbox)
            await s.outbox.stop()
    assert fanout.publish("g", "x") == 0  # left: nothing holds the sockets any more


async def test_slow_readers_cannot_hold_back_everyone_elses_model() -> None:
    """Eight sockets whose model takes a minute to go out (a client that barely reads, or asks again
    and again) give their places back: a ninth gets its model within a slot's time."""
    slow = [Socket(delay=60.0) for _ in range(fanout.MODEL_SENDS_AT_ONCE)]
    for s in slow:
        s.outbox.start(with_model=True)
    await asyncio.sleep(0.1)
    fresh = Socket()
    fresh.outbox.start(with_model=True)
    try:
        for _ in range(int((fanout.MODEL_SLOT_SECONDS + 1) / 0.05)):
            if fresh.sent:
                break
            await asyncio.sleep(0.05)
        assert fresh.sent == ["MODEL"]
    finally:
        for s in (*slow, fresh):
            await s.outbox.stop()
