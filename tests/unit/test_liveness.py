"""Liveness (the image's HEALTHCHECK) fails for a stuck process, not for a lost Docker; a watcher
loop that dies is said to be broken and started again, with backoff."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from dashboard import runtime
from dashboard.core.watch import Watcher
from tests.unit.fakedocker import FakeDocker, factory

# a loop of their own: an earlier test's thread still running would hold the fast-forwarded clock back
pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]


@pytest.fixture
def watcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watcher]:
    w = Watcher(factory(FakeDocker()))
    monkeypatch.setattr(runtime, "watcher", lambda: w)
    yield w


async def test_it_is_alive_while_the_watcher_moves_and_dead_once_it_is_stuck(
    watcher: Watcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    supervisor = asyncio.create_task(asyncio.sleep(3600))
    monkeypatch.setattr(runtime, "_task", supervisor)
    monkeypatch.setattr(runtime, "_last_tick", loop.time())
    try:
        watcher.progress_at = loop.time()
        assert runtime.liveness()[0]
        await asyncio.sleep(45)  # Docker may be gone for this long: still alive (waits are bounded)
        monkeypatch.setattr(runtime, "_last_tick", loop.time())
        assert runtime.liveness()[0]
        await asyncio.sleep(600)  # nothing moved for ten minutes: stuck
        monkeypatch.setattr(runtime, "_last_tick", loop.time())
        alive, body = runtime.liveness()
        assert not alive and float(str(body["watcher_stalled_seconds"])) >= 600, body
    finally:
        supervisor.cancel()


async def test_it_is_dead_when_the_supervisor_is_gone(watcher: Watcher, monkeypatch: pytest.MonkeyPatch) -> None:
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    monkeypatch.setattr(runtime, "_task", done)
    monkeypatch.setattr(runtime, "_last_tick", asyncio.get_running_loop().time())
    alive, body = runtime.liveness()
    assert not alive and body["watcher"] == "stopped"


async def test_a_watcher_loop_that_dies_is_said_broken_and_restarted_with_backoff() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    class Dying(Watcher):
        async def run(self, *, _iterations: int | None = None) -> None:
            runs.append(loop.time())
            if len(runs) < 4:
                raise RuntimeError("a bug")

    w = Dying(factory(FakeDocker()))
    await runtime.supervise(w, backoff_max=10, _iterations=5)
    assert len(runs) == 4
    assert (w.snapshot.status.state, w.snapshot.status.kind) == ("error", "internal")
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[0] >= 1 and gaps[1] >= 2 * gaps[0] * 0.99 and gaps[2] >= 2 * gaps[1] * 0.99, gaps
