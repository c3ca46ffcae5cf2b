"""Resource use on its own channel: each process keeps 15 minutes per task, bounded; a slow socket gets
the newest frame only and is never sent the model for it; a view gets only what it shows."""

from __future__ import annotations

import asyncio
import json

import pytest

from dashboard.core.agents_usage import UsageFrame, UsageHistory
from dashboard.core.model import Snapshot, Status
from dashboard.live import fanout
from dashboard.live.usage import shown, texts
from dashboard.live.views import View
from tests.unit.fakedocker import node, service, task


def frame(at: float, tasks: dict[str, list[float]], nodes: dict[str, list[float]] | None = None) -> UsageFrame:
    return UsageFrame(at=at, every=5.0, nodes=nodes or {}, tasks=tasks)


def test_it_keeps_the_last_15_minutes_of_each_tasks_samples() -> None:
    history = UsageHistory()
    start = 1_800_000_000.0
    for i in range(400):  # 2000 s of samples, every 5 s
        history.add(frame(start + 5 * i, {"t1": [0.5, 1000 + i, 4096]}))
    usage = history.of("t1")
    assert usage["memory_limit"] == 4096 and usage["every"] == 5.0
    samples = usage["samples"]
    assert len(samples) == 181 and samples[-1] == [start + 5 * 399, 0.5, 1399]
    assert samples[-1][0] - samples[0][0] == 900
    history.add(frame(start + 5 * 399 + 901, {}))
    assert history.of("t1")["samples"] == []  # a task without samples for 15 minutes is forgotten


def test_it_keeps_a_bounded_number_of_tasks() -> None:
    history = UsageHistory(max_tasks=2)
    history.add(frame(1.0, {"t1": [0, 1, 0], "t2": [0, 1, 0], "t3": [0, 1, 0]}))
    assert sum(bool(history.of(t)["samples"]) for t in ("t1", "t2", "t3")) == 2


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"at": 1, "every": 5, "nodes": {}},
        {"at": "x", "every": 5, "nodes": {}, "tasks": {}},
        {"at": 1, "every": 5, "nodes": {}, "tasks": {"../x": [0, 1, 2]}},
        {"at": 1, "every": 5, "nodes": {}, "tasks": {"t1": [0, 1]}},
        {"at": 1, "every": 5, "nodes": {"n1": [0, 1, 2, "3"]}, "tasks": {}},
    ],
)
def test_a_frame_from_redis_that_is_not_ours_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        UsageFrame.from_data(raw)


def test_a_view_gets_only_the_usage_of_what_it_shows() -> None:
    snapshot = Snapshot.build(
        seq=1, status=Status(state="live"), nodes=[node("n1"), node("n2")],
        services=[service("s1"), service("s2")], tasks=[task("t1", "s1", "n1"), task("t2", "s2", "n2")],
    )  # fmt: skip
    whole = frame(1.0, {"t1": [1, 2, 3], "t2": [4, 5, 6]}, {"n1": [0, 2, 1, 9], "n2": [0, 2, 1, 9]})
    wall = View(read_only=True, services=frozenset({"svc-s1"}))
    part = shown(whole, snapshot, wall, {"n1": 1})
    assert dict(part.tasks) == {"t1": [1, 2, 3]} and set(part.nodes) == {"n1"}
    assert shown(whole, snapshot, View(read_only=True), None) is whole
    (text,) = texts(part, 3, part.nodes, part.tasks)
    assert json.loads(text) == {
        "type": "usage", "epoch": 3, "at": 1.0, "every": 5.0, "nodes": {"n1": [0, 2, 1, 9]}, "tasks": {"t1": [1, 2, 3]},
    }  # fmt: skip


@pytest.mark.asyncio(loop_scope="function")
async def test_a_slow_socket_gets_the_newest_usage_only_and_never_the_model_for_it() -> None:
    sent: list[str] = []
    models = 0
    reading = asyncio.Event()

    four = asyncio.Event()

    async def send(text: str) -> None:
        await reading.wait()
        sent.append(text)
        if len(sent) == 4:
            four.set()

    async def send_model() -> None:
        nonlocal models
        models += 1

    outbox = fanout.Outbox(send, send_model)
    outbox.start(with_model=False)
    try:
        outbox.offer("patch-1")
        await asyncio.sleep(0)
        for i in range(1000):  # a socket that reads nothing while usage frames keep coming
            outbox.offer_usage((f"usage-{i}a", f"usage-{i}b"))
        outbox.offer("patch-2")
        reading.set()
        await asyncio.wait_for(four.wait(), 2)
        await asyncio.sleep(0.05)  # nothing more comes
        assert sent == ["patch-1", "patch-2", "usage-999a", "usage-999b"] and models == 0
    finally:
        await outbox.stop()
