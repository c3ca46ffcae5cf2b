"""What the watcher's parts share: its settings, its clock, the tasks as last listed, and what the
hints since the last re-list ask for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dashboard.core.domain import Config, Node, Secret, Service, Task
from dashboard.core.model import FINAL_STATES, Patch, Snapshot, Status

TIMER_SLACK = 0.001  # seconds: what a timer firing early may be off by

Subscriber = Callable[[Snapshot, Patch], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WatchSettings:
    reconcile: float = 8.0  # seconds between re-lists of /tasks
    full_every: int = 8  # every Nth reconcile re-lists nodes and services too
    liveness: float = 60.0  # a stream silent this long must prove it is alive (ping, reopen)
    backoff_initial: float = 0.25
    backoff_max: float = 10.0
    coalesce: float = 0.02  # a burst of events within this window makes one re-list
    settle_for: float = 15.0  # after an event, re-list a service's tasks until they settle, this long at most
    settle_first: float = 0.2
    settle_max_interval: float = 2.0
    relax_factor: float = 4.0  # the reconcile's period, multiplied, while every ready node has a live agent
    agent_stats_every: float = 5.0  # seconds between two stats of an agent, and two usage frames
    agent_ttl: float = 15.0  # an agent not heard of this long is no longer live (its process died)


def clock() -> float:
    """The event loop's clock (monotonic in production; a test's loop may fast-forward it)."""
    return asyncio.get_running_loop().time()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def settled(tasks: Iterable[Task]) -> bool:
    """No task of the service is on its way anywhere: each is where its desired state says."""
    for task in tasks:
        if task.desired_state == "running" and task.state not in ("running", *FINAL_STATES):
            return False
        if task.desired_state in ("shutdown", "remove") and task.state not in FINAL_STATES:
            return False
    return True


@dataclass
class Dirty:
    """What the events since the last refresh asked to re-list."""

    services: set[str] = field(default_factory=set)  # re-list these services
    removed_services: set[str] = field(default_factory=set)
    service_tasks: set[str] = field(default_factory=set)  # re-list these services' tasks
    nodes: bool = False
    node_tasks: set[str] = field(default_factory=set)  # re-list the tasks on these nodes
    secrets: bool = False
    configs: bool = False
    everything: bool = False  # list it all: some events may be lost
    agents: bool = False  # nothing to re-list: the agents' side of the model changed, publish it

    def __bool__(self) -> bool:
        return bool(
            self.everything
            or self.services
            or self.removed_services
            or self.service_tasks
            or self.nodes
            or self.node_tasks
            or self.secrets
            or self.configs
            or self.agents
        )


class TaskTable:
    """The tasks as last listed, indexed by service and node so that re-listing one service's or
    node's tasks costs what they cost, not what the whole swarm costs, and remembering which tasks
    were touched since the last publish (None: all of them)."""

    def __init__(self) -> None:
        self.items: dict[str, Task] = {}
        self._by_service: dict[str, set[str]] = {}
        self._by_node: dict[str, set[str]] = {}
        self.touched: set[str] | None = None

    def replace_all(self, tasks: Iterable[Task]) -> None:
        self.items = {t.id: t for t in tasks}
        self._by_service, self._by_node = {}, {}
        for task in self.items.values():
            self._index(task)
        self.touched = None

    def replace(self, *, services: Iterable[str] = (), nodes: Iterable[str] = (), fresh: Iterable[Task]) -> None:
        """Drop the tasks of these services / on these nodes, then add ``fresh`` (their new listing)."""
        gone: set[str] = set()
        for service_id in services:
            gone |= self._by_service.get(service_id, set())
        for node_id in nodes:
            gone |= self._by_node.get(node_id, set())
        for task_id in gone:
            self._unindex(self.items.pop(task_id))
        added = []
        for task in fresh:
            if task.id in self.items:
                self._unindex(self.items[task.id])
            self.items[task.id] = task
            self._index(task)
            added.append(task.id)
        self._touch(gone.union(added))

    def _touch(self, ids: set[str]) -> None:
        if self.touched is not None:
            self.touched |= ids

    def published(self) -> None:
        self.touched = set()

    def _index(self, task: Task) -> None:
        self._by_service.setdefault(task.service_id, set()).add(task.id)
        self._by_node.setdefault(task.node_id, set()).add(task.id)

    def _unindex(self, task: Task) -> None:
        self._by_service.get(task.service_id, set()).discard(task.id)
        self._by_node.get(task.node_id, set()).discard(task.id)

    def count_on(self, node_id: str) -> int:
        """Tasks the model has on this node (its history included)."""
        return len(self._by_node.get(node_id, ()))

    def services_on(self, node_id: str) -> set[str]:
        return {self.items[i].service_id for i in self._by_node.get(node_id, ())}

    def of_service(self, service_id: str) -> list[Task]:
        return [self.items[i] for i in self._by_service.get(service_id, ())]


class WatchState:
    """The state the follower, the refresher and the watcher share (set up by Watcher.__init__)."""

    settings: WatchSettings
    _nodes: dict[str, Node]
    _services: dict[str, Service]
    _tasks: TaskTable
    _secrets: dict[str, Secret]
    _configs: dict[str, Config]
    _status: Status
    _dirty: Dirty
    _wake: asyncio.Event
    # service -> deadline, next re-list at, interval, and the hint's number (see Refresher)
    _settling: dict[str, tuple[float, float, float, int]]
    _hints: int
    events_seen: int
    progress_at: float | None
    syncs: int

    def _settle(self, service_id: str) -> None:
        """Re-list this service's tasks until they settle (bounded): after an event they move for seconds."""
        now = clock()
        self._hints += 1
        first = now + self.settings.settle_first
        self._settling[service_id] = (now + self.settings.settle_for, first, 0.0, self._hints)

    def _awaited(self, service_id: str) -> bool:
        """Is a change of this service's tasks known to be on its way to the managers (see AgentSide)?"""
        return False

    def _reconcile_period(self) -> float:
        """Seconds between two reconciles of /tasks (the agents' side may relax it)."""
        return self.settings.reconcile

    async def _publish(self) -> None:
        raise NotImplementedError
