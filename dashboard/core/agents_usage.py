"""Resource use as it travels and as each process remembers it: not the model's (a sample every few
seconds per task would be a patch per sample), a low-rate channel of its own.

The watcher's process makes a ``UsageFrame`` every ``every`` seconds from the agents' latest samples
(dashboard.core.agents_store) and hands it to every process (in one process directly; with Redis
through a stream of its own); every process keeps the last ``HISTORY_SECONDS`` of each task's
samples in a bounded ring (``UsageHistory``) for the task panel's sparklines. Pure: no Django.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboard.core.domain import valid_id

HISTORY_SECONDS = 15 * 60
MAX_TASKS_KEPT = 20_000  # tasks with a history in one process: 20,000 x 180 samples x 12 bytes = 43 MB at most
MAX_FRAME_ITEMS = 50_000  # nodes and tasks in one frame read from Redis


@dataclass(frozen=True, slots=True)
class UsageFrame:
    at: float  # unix time the frame was made
    every: float  # seconds between two frames: a sample older than a few of these is stale
    nodes: Mapping[str, list[float]]  # node id -> [cpu, cpus, memory, memory total]
    tasks: Mapping[str, list[float]]  # task id -> [cpu, memory, memory limit]

    def data(self) -> dict[str, Any]:
        return {"at": self.at, "every": self.every, "nodes": dict(self.nodes), "tasks": dict(self.tasks)}

    @classmethod
    def from_data(cls, raw: Any) -> UsageFrame:
        """A frame read back from Redis (shared infrastructure: checked, ValueError when foreign)."""
        if not isinstance(raw, dict) or set(raw) != {"at", "every", "nodes", "tasks"}:
            raise ValueError("a usage frame: expected at, every, nodes, tasks")
        at, every = raw["at"], raw["every"]
        if not all(isinstance(x, int | float) and math.isfinite(x) and x >= 0 for x in (at, every)):
            raise ValueError("a usage frame: at and every must be numbers")
        return cls(float(at), float(every), _rows(raw["nodes"], 4), _rows(raw["tasks"], 3))


def _rows(raw: Any, width: int) -> dict[str, list[float]]:
    if not isinstance(raw, dict) or len(raw) > MAX_FRAME_ITEMS:
        raise ValueError("a usage frame: rows must be an object, bounded")
    for key, row in raw.items():
        ok = isinstance(row, list) and len(row) == width
        if not (valid_id(key) and ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)):
            raise ValueError("a usage frame: a row is not an id and numbers")
    return raw


class UsageHistory:
    """The last HISTORY_SECONDS of each task's samples: a ring of (seconds since ``base``, cpu,
    memory) per task, in float32 (a byte count is exact to a part in ten million)."""

    def __init__(self, *, seconds: float = HISTORY_SECONDS, max_tasks: int = MAX_TASKS_KEPT) -> None:
        self.seconds, self.max_tasks = seconds, max_tasks
        self.base: float | None = None
        self.every = 0.0
        self._rings: dict[str, array[float]] = {}
        self._limits: dict[str, int] = {}

    def add(self, frame: UsageFrame) -> None:
        if self.base is None:
            self.base = frame.at
        self.every = frame.every
        at = frame.at - self.base
        for task_id, (cpu, memory, limit) in frame.tasks.items():
            ring = self._rings.get(task_id)
            if ring is None:
                if len(self._rings) >= self.max_tasks:
                    continue
                ring = self._rings[task_id] = array("f")
            ring.extend((at, cpu, memory))
            self._limits[task_id] = int(limit)
        self._trim(at)

    def _trim(self, now: float) -> None:
        oldest = now - self.seconds
        for task_id in list(self._rings):
            ring = self._rings[task_id]
            cut = 0
            while cut < len(ring) and ring[cut] < oldest:
                cut += 3
            if cut == len(ring):
                del self._rings[task_id]
                self._limits.pop(task_id, None)
            elif cut:
                del ring[:cut]

    def of(self, task_id: str) -> dict[str, Any]:
        """The task's samples, oldest first, as [unix time, cpu cores, memory bytes], and its limit."""
        ring = self._rings.get(task_id)
        samples = []
        if ring is not None and self.base is not None:
            for i in range(0, len(ring), 3):
                samples.append([round(self.base + ring[i], 3), round(ring[i + 1], 3), int(ring[i + 2])])
        return {"every": self.every, "memory_limit": self._limits.get(task_id, 0), "samples": samples}
