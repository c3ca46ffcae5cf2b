"""The model of the swarm, pure: immutable snapshots, diff, apply, and the truths Docker leaves out.

No I/O and no Django here. A Snapshot is what the watcher last saw; ``diff(old, new)`` is the Patch
that turns one into the other and ``apply(old, patch) == new`` (property-tested). Each published
snapshot has a seq one higher than the one before, so a viewer that misses a patch sees the gap.

Derived truth (``derive``): a task that Docker calls active (assigned .. running) on a node that is
down is orphaned - Docker reports it as running for as long as the node is gone; a service's
running count counts only tasks really running on live nodes (Docker's own would say 14/9).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from dashboard.domain import Node, Service, Task

# Docker's task states from "assigned" through "running": the task holds (or is about to hold) a
# container on its node, so the node's death leaves its fate unknown
ACTIVE_STATES = frozenset({"assigned", "accepted", "preparing", "ready", "starting", "running"})
FINAL_STATES = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})
NODE_GONE_STATES = frozenset({"down", "disconnected"})

ConnectionState = Literal["connecting", "live", "reconnecting", "error"]


@dataclass(frozen=True, slots=True)
class Status:
    """The watcher's connection to Docker, published with the model so viewers can tell stale data."""

    state: ConnectionState = "connecting"
    since: str = ""  # ISO 8601 UTC: when this state began
    reason: str = ""  # why it is not live (the error, in words a person can act on)
    kind: str = ""  # the error's kind ("unreachable", "tls", "worker", ...)


T = TypeVar("T", Node, Service, Task)


def _frozen(items: Mapping[str, T] | Iterable[T]) -> Mapping[str, T]:
    if isinstance(items, Mapping):
        return MappingProxyType(dict(items))
    return MappingProxyType({item.id: item for item in items})


@dataclass(frozen=True, slots=True, eq=True)
class Snapshot:
    seq: int = 0
    status: Status = field(default_factory=Status)
    nodes: Mapping[str, Node] = field(default_factory=lambda: MappingProxyType({}))
    services: Mapping[str, Service] = field(default_factory=lambda: MappingProxyType({}))
    tasks: Mapping[str, Task] = field(default_factory=lambda: MappingProxyType({}))

    __hash__ = None  # type: ignore[assignment]  # holds mappings: compare, never hash

    @classmethod
    def build(
        cls,
        *,
        seq: int,
        status: Status,
        nodes: Mapping[str, Node] | Iterable[Node],
        services: Mapping[str, Service] | Iterable[Service],
        tasks: Mapping[str, Task] | Iterable[Task],
    ) -> Snapshot:
        """A snapshot with the derived truths applied (see ``derive``)."""
        n, s, t = derive(_frozen(nodes), _frozen(services), _frozen(tasks))
        return cls(seq=seq, status=status, nodes=n, services=s, tasks=t)

    def same_content(self, other: Snapshot) -> bool:
        return (self.status, self.nodes, self.services, self.tasks) == (
            other.status,
            other.nodes,
            other.services,
            other.tasks,
        )


def derive(
    nodes: Mapping[str, Node], services: Mapping[str, Service], tasks: Mapping[str, Task]
) -> tuple[Mapping[str, Node], Mapping[str, Service], Mapping[str, Task]]:
    gone = {node_id for node_id, node in nodes.items() if node.state in NODE_GONE_STATES}
    new_tasks: dict[str, Task] = {}
    running: dict[str, int] = {}
    for task_id, task in tasks.items():
        orphaned = task.node_id in gone and task.state in ACTIVE_STATES
        if orphaned != task.orphaned:
            task = dataclasses.replace(task, orphaned=orphaned)
        new_tasks[task_id] = task
        if task.state == "running" and not orphaned and task.desired_state == "running":
            running[task.service_id] = running.get(task.service_id, 0) + 1
    new_services: dict[str, Service] = {}
    for service_id, service in services.items():
        desired = _desired(service, tasks.values())
        count = running.get(service_id, 0)
        if (service.running_tasks, service.desired_tasks) != (count, desired):
            service = dataclasses.replace(service, running_tasks=count, desired_tasks=desired)
        new_services[service_id] = service
    return nodes, MappingProxyType(new_services), MappingProxyType(new_tasks)


def _desired(service: Service, tasks: Iterable[Task]) -> int | None:
    if service.mode == "replicated":
        return service.replicas
    if service.mode == "global":
        # Docker's DesiredTasks counts eligible nodes; keep it when Docker gave it
        if service.desired_tasks is not None:
            return service.desired_tasks
        return sum(1 for t in tasks if t.service_id == service.id and t.desired_state == "running")
    return service.desired_tasks


# --- patches --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindPatch(Generic[T]):
    added: tuple[T, ...] = ()
    changed: tuple[T, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def __len__(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


@dataclass(frozen=True, slots=True)
class Patch:
    base_seq: int  # the seq of the snapshot it applies to
    seq: int  # the seq of the snapshot it produces
    status: Status | None = None  # the new status, when it changed
    nodes: KindPatch[Node] = field(default_factory=KindPatch)
    services: KindPatch[Service] = field(default_factory=KindPatch)
    tasks: KindPatch[Task] = field(default_factory=KindPatch)

    def __bool__(self) -> bool:
        return self.status is not None or bool(self.nodes or self.services or self.tasks)


class SeqGap(ValueError):
    """A patch does not follow the snapshot it is applied to."""


def _diff_kind(old: Mapping[str, T], new: Mapping[str, T]) -> KindPatch[T]:
    added = tuple(item for key, item in new.items() if key not in old)
    changed = tuple(item for key, item in new.items() if key in old and old[key] != item)
    removed = tuple(key for key in old if key not in new)
    return KindPatch(added=added, changed=changed, removed=removed)


def diff(old: Snapshot, new: Snapshot) -> Patch:
    return Patch(
        base_seq=old.seq,
        seq=new.seq,
        status=new.status if new.status != old.status else None,
        nodes=_diff_kind(old.nodes, new.nodes),
        services=_diff_kind(old.services, new.services),
        tasks=_diff_kind(old.tasks, new.tasks),
    )


def _apply_kind(current: Mapping[str, T], patch: KindPatch[T]) -> Mapping[str, T]:
    if not patch:
        return current
    result: dict[str, T] = dict(current)
    for key in patch.removed:
        result.pop(key, None)
    for item in patch.added + patch.changed:
        result[item.id] = item
    return MappingProxyType(result)


def apply(old: Snapshot, patch: Patch) -> Snapshot:
    if patch.base_seq != old.seq:
        raise SeqGap(f"patch {patch.base_seq}->{patch.seq} does not apply to snapshot {old.seq}")
    return Snapshot(
        seq=patch.seq,
        status=patch.status if patch.status is not None else old.status,
        nodes=_apply_kind(old.nodes, patch.nodes),
        services=_apply_kind(old.services, patch.services),
        tasks=_apply_kind(old.tasks, patch.tasks),
    )


def advance(old: Snapshot, new: Snapshot) -> tuple[Snapshot, Patch | None]:
    """Give ``new`` the next seq when its content differs from ``old``; the patch to publish, or None."""
    if old.same_content(new):
        return old, None
    numbered = dataclasses.replace(new, seq=old.seq + 1)
    return numbered, diff(old, numbered)


# --- the wire: JSON for /api/snapshot and the websocket ---------------------------------------


def node_json(node: Node) -> dict[str, Any]:
    data = dataclasses.asdict(node)
    data["labels"] = dict(node.labels)
    return data


def service_json(service: Service) -> dict[str, Any]:
    data = dataclasses.asdict(service)
    data["labels"] = dict(service.labels)
    return data


def task_json(task: Task) -> dict[str, Any]:
    data = dataclasses.asdict(task)
    data["docker_state"] = task.state
    data["state"] = "orphaned" if task.orphaned else task.state
    return data


def status_json(status: Status) -> dict[str, Any]:
    return dataclasses.asdict(status)


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "seq": snapshot.seq,
        "status": status_json(snapshot.status),
        "nodes": [node_json(n) for n in snapshot.nodes.values()],
        "services": [service_json(s) for s in snapshot.services.values()],
        "tasks": [task_json(t) for t in snapshot.tasks.values()],
    }


def patch_json(patch: Patch) -> dict[str, Any]:
    def kind(p: KindPatch[Any], render: Any) -> dict[str, Any]:
        return {"upsert": [render(x) for x in (*p.added, *p.changed)], "removed": list(p.removed)}

    data: dict[str, Any] = {
        "base_seq": patch.base_seq,
        "seq": patch.seq,
        "nodes": kind(patch.nodes, node_json),
        "services": kind(patch.services, service_json),
        "tasks": kind(patch.tasks, task_json),
    }
    if patch.status is not None:
        data["status"] = status_json(patch.status)
    return data
