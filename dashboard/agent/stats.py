"""CPU and memory from the daemon's container stats, counted as `docker stats` counts them. Pure.

The agent asks for one-shot samples (``stream=false&one-shot=true``, API >= 1.41): the daemon then
answers at once instead of waiting a second for a second sample of its own, and ``precpu_stats`` is
empty. CPU use is the difference between this sample and the agent's previous one of the same
container, so a container's first sample has memory but no CPU yet: it is sent from the second on.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from dashboard.agent.messages import MAX_MESSAGE_BYTES, NodeUsage, Stats, TaskUsage
from dashboard.agent.wire import size
from dashboard.core.domain import JSON, as_dict


@dataclass(frozen=True, slots=True)
class CPUCounters:
    """One sample's CPU counters: the container's and the whole host's time, in nanoseconds."""

    container: int  # cpu_stats.cpu_usage.total_usage
    system: int  # cpu_stats.system_cpu_usage (every CPU of the host)
    online: int  # cpu_stats.online_cpus


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0 else 0


def cpu_counters(cpu_stats: Any) -> CPUCounters | None:
    """The counters of a ``cpu_stats`` or ``precpu_stats`` object; None when it is empty (a one-shot
    sample's ``precpu_stats``, a stopped container)."""
    stats = as_dict(cpu_stats)
    usage = as_dict(stats.get("cpu_usage"))
    system = _int(stats.get("system_cpu_usage"))
    if not system:
        return None
    online = _int(stats.get("online_cpus"))
    if not online:  # older daemons: the per-CPU list's length, as the docker CLI falls back to
        percpu = usage.get("percpu_usage")
        online = len(percpu) if isinstance(percpu, list) else 0
    return CPUCounters(container=_int(usage.get("total_usage")), system=system, online=online or 1)


def cpu_cores(now: CPUCounters, before: CPUCounters) -> float:
    """Cores in use between two samples (1.0 = one whole core), as `docker stats` computes its
    percentage (container delta / host delta x online CPUs), without the x100."""
    container = now.container - before.container
    system = now.system - before.system
    if container < 0 or system <= 0:  # a restarted container's counters start again from 0
        return 0.0
    return round(container / system * now.online, 4)


def memory_used(memory_stats: Any) -> int:
    """Bytes in use without the page cache that could be dropped, as the docker CLI counts it:
    usage minus ``total_inactive_file`` (cgroup v1) or ``inactive_file`` (cgroup v2)."""
    memory = as_dict(memory_stats)
    usage = _int(memory.get("usage"))
    stats = as_dict(memory.get("stats"))
    if "total_inactive_file" in stats:
        cache = _int(stats.get("total_inactive_file"))
        if cache < usage:
            return usage - cache
    cache = _int(stats.get("inactive_file"))
    return usage - cache if cache < usage else usage


def memory_limit(memory_stats: Any, node_total: int) -> int:
    """The container's own limit in bytes; 0 without one (the daemon then says the node's memory,
    or on cgroup v1 a number near 2^63)."""
    limit = _int(as_dict(memory_stats).get("limit"))
    return 0 if limit == 0 or (node_total and limit >= node_total) else limit


@dataclass(frozen=True, slots=True)
class NodeTotals:
    """GET /info: what the node has."""

    cpus: float  # NCPU
    memory: int  # MemTotal, bytes

    @classmethod
    def from_info(cls, info: JSON) -> NodeTotals:
        return cls(cpus=float(_int(info.get("NCPU"))), memory=_int(info.get("MemTotal")))


class Sampler:
    """Turns raw one-shot samples into a Stats message; remembers each container's last counters."""

    def __init__(self, node: NodeTotals) -> None:
        self.node = node
        self._before: dict[str, CPUCounters] = {}  # container id -> its previous sample's counters

    def stats(
        self, samples: dict[tuple[str, str], JSON], *, running: Collection[str] | None = None, at: float | None = None
    ) -> Stats:
        """``samples``: (task id, container id) -> that container's raw stats, for the running task
        containers that answered this round. A container that did not (too slow this time) keeps its
        last counters while it is ``running`` (container ids; by default those sampled); the others
        are forgotten."""
        tasks: list[TaskUsage] = []
        for (task_id, container_id), raw in samples.items():
            now = cpu_counters(raw.get("cpu_stats"))
            if now is None:
                continue
            before = self._before.get(container_id) or cpu_counters(raw.get("precpu_stats"))
            self._before[container_id] = now
            if before is None:
                continue  # a first sample: memory without CPU would draw a misleading zero
            memory = raw.get("memory_stats")
            tasks.append(
                TaskUsage(
                    task_id=task_id,
                    cpu=cpu_cores(now, before),
                    memory=memory_used(memory),
                    memory_limit=memory_limit(memory, self.node.memory),
                )
            )
        keep = set(running) if running is not None else {container_id for _, container_id in samples}
        self._before = {c: counters for c, counters in self._before.items() if c in keep}
        node = NodeUsage(
            cpus=self.node.cpus,
            cpu=round(sum(t["cpu"] for t in tasks), 4),
            memory=sum(t["memory"] for t in tasks),
            memory_total=self.node.memory,
        )
        return Stats(type="stats", at=time.time() if at is None else at, node=node, tasks=tasks)


def split_stats(stats: Stats, *, limit: int = MAX_MESSAGE_BYTES) -> Iterator[Stats]:
    """``stats`` as messages of at most ``limit`` bytes each: halves of its tasks until each fits
    (every part carries the node's whole usage)."""
    if size(stats) <= limit or len(stats["tasks"]) <= 1:
        yield stats
        return
    half = len(stats["tasks"]) // 2
    for part in (stats["tasks"][:half], stats["tasks"][half:]):
        yield from split_stats(Stats(type="stats", at=stats["at"], node=stats["node"], tasks=part), limit=limit)
