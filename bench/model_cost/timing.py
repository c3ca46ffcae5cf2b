"""The stage clock and what feeds it: timing wrappers around the watcher's calls, the patch sink, a stall probe."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import dashboard.core.watch.watcher as watcher_module
from dashboard.core.docker import DockerClient
from dashboard.core.model import Patch, Snapshot
from dashboard.live.wire import patch_json


class Clock:
    """Wall and CPU milliseconds per stage name, for the measurement under way."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall[name] += wall * 1000
        self.cpu[name] += cpu * 1000

    def sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - w, time.process_time() - c)

        return timed

    def coro(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - w, time.process_time() - c)

        return timed


class _TimedSnapshot:
    """Stands in for the watcher module's Snapshot after the watcher exists: only ``build`` is used then."""

    def __init__(self, clock: Clock) -> None:
        self.build = clock.sync("Snapshot.build", Snapshot.build)


class PatchSink:
    """The subscriber dashboard.runtime installs, without the channel layer: serialize once, keep the size."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.last: tuple[int, int, int] = (0, 0, 0)  # (bytes, task upserts, task removals)
        self.published: list[tuple[float, Patch]] = []

    async def __call__(self, snapshot: Snapshot, patch: Patch) -> None:
        w, c = time.perf_counter(), time.process_time()
        text = json.dumps({"type": "patch", **patch_json(patch)}, separators=(",", ":"))
        self.clock.add("patch_json + dumps", time.perf_counter() - w, time.process_time() - c)
        tasks = patch.tasks
        self.last = (len(text.encode()), len(tasks.added) + len(tasks.changed), len(tasks.removed))
        self.published.append((time.monotonic(), patch))


def instrument(client: DockerClient, clock: Clock) -> Callable[[], None]:
    """Timing wrappers around the calls the watcher makes; returns what puts the module back.

    Only stable entry points are wrapped (the client's requests, state's ``advance`` and
    ``Snapshot.build`` as the watcher module imports them); the watcher's own bookkeeping is what
    remains of the total.
    """
    namespace = vars(watcher_module)
    saved = {name: namespace[name] for name in ("advance", "Snapshot")}

    def restore() -> None:
        namespace.update(saved)

    client._get = clock.coro("GET + JSON decode", client._get)  # type: ignore[method-assign,assignment]
    client.tasks = clock.coro("re-list (GET, decode, parse_task)", client.tasks)  # type: ignore[method-assign,assignment]
    namespace["advance"] = clock.sync("advance (same_content + diff)", saved["advance"])
    namespace["Snapshot"] = _TimedSnapshot(clock)
    return restore


class StallProbe:
    """The longest gap between the turns of a task that asks the event loop for one every 1 ms."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.worst_ms = max(self.worst_ms, (now - last) * 1000)
            last = now

    async def __aenter__(self) -> StallProbe:
        self._task = asyncio.create_task(self._run(), name="stall-probe")
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await asyncio.sleep(0.005)  # the probe's turn after the last stretch of work: that gap counts too
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def change_record(wall: float, cpu: float, clock: Clock, sink: PatchSink) -> dict[str, Any]:
    size, upserts, removed = sink.last
    named = ("re-list (GET, decode, parse_task)", "Snapshot.build", "advance (same_content + diff)")
    stages_cpu = dict(clock.cpu)
    stages_cpu["the rest"] = max(0.0, cpu - sum(stages_cpu.get(n, 0.0) for n in (*named, "patch_json + dumps")))
    return {
        "wall_ms": wall,
        "cpu_ms": cpu,
        "stages_wall_ms": dict(clock.wall),
        "stages_cpu_ms": stages_cpu,
        "patch_bytes": size,
        "task_upserts": upserts,
        "task_removals": removed,
    }
