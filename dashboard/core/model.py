"""The model of the swarm, pure: immutable snapshots, diff, apply, and the truths Docker leaves out.

No I/O and no Django here. A Snapshot is what the watcher last saw; ``diff(old, new)`` is the Patch
that turns one into the other and ``apply(old, patch) == new`` (property-tested). Each published
snapshot has a seq one higher than the one before, so a viewer that misses a patch sees the gap.

Derived truth (``derive``): a task that Docker calls active (assigned .. running) on a node that is
down is orphaned - Docker reports it as running for as long as the node is gone; a service's
running count counts only tasks really running on live nodes (Docker's own would say 14/9), see
``counts``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from dashboard.core.domain import Config, Node, Secret, Service, Task

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


T = TypeVar("T", Node, Service, Task, Secret, Config)


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
    secrets: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}))
    configs: Mapping[str, Config] = field(default_factory=lambda: MappingProxyType({}))

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
        secrets: Mapping[str, Secret] | Iterable[Secret] = (),
        configs: Mapping[str, Config] | Iterable[Config] = (),
    ) -> Snapshot:
        """A snapshot with the derived truths applied (see ``derive``)."""
        n, s, t = derive(_frozen(nodes), _frozen(services), _frozen(tasks))
        return cls(
            seq=seq, status=status, nodes=n, services=s, tasks=t, secrets=_frozen(secrets), configs=_frozen(configs)
        )

    def _content(self) -> tuple[Any, ...]:
        return (self.status, self.nodes, self.services, self.tasks, self.secrets, self.configs)

    def same_content(self, other: Snapshot) -> bool:
        return self._content() == other._content()


def derive(
    nodes: Mapping[str, Node], services: Mapping[str, Service], tasks: Mapping[str, Task]
) -> tuple[Mapping[str, Node], Mapping[str, Service], Mapping[str, Task]]:
    gone = {node_id for node_id, node in nodes.items() if node.state in NODE_GONE_STATES}
    if not gone and not any(t.orphaned for t in tasks.values()):
        return nodes, services, tasks
    new_tasks: dict[str, Task] = {}
    for task_id, task in tasks.items():
        orphaned = task.node_id in gone and task.state in ACTIVE_STATES
        if orphaned != task.orphaned:
            task = dataclasses.replace(task, orphaned=orphaned)
        new_tasks[task_id] = task
    return nodes, services, MappingProxyType(new_tasks)


def counts(snapshot: Snapshot) -> dict[str, tuple[int, int | None]]:
    """service id -> (tasks really running on live nodes, tasks desired); Docker's own would say 14/9.

    Kept out of the Service objects so that one task's change is one small task patch; the page
    counts the same way from the tasks it holds.
    """
    running: dict[str, int] = {}
    desired_running: dict[str, int] = {}
    for task in snapshot.tasks.values():
        if task.desired_state == "running":
            desired_running[task.service_id] = desired_running.get(task.service_id, 0) + 1
            if task.state == "running" and not task.orphaned:
                running[task.service_id] = running.get(task.service_id, 0) + 1
    result: dict[str, tuple[int, int | None]] = {}
    for service_id, service in snapshot.services.items():
        if service.mode == "replicated":
            desired: int | None = service.replicas
        elif service.mode == "global":
            desired = desired_running.get(service_id, 0)
        else:
            desired = service.desired_tasks
        result[service_id] = (running.get(service_id, 0), desired)
    return result


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
    secrets: KindPatch[Secret] = field(default_factory=KindPatch)
    configs: KindPatch[Config] = field(default_factory=KindPatch)

    def __bool__(self) -> bool:
        return self.status is not None or bool(
            self.nodes or self.services or self.tasks or self.secrets or self.configs
        )


class SeqGap(ValueError):
    """A patch does not follow the snapshot it is applied to."""


def _diff_kind(old: Mapping[str, T], new: Mapping[str, T]) -> KindPatch[T]:
    added = tuple(item for key, item in new.items() if key not in old)
    changed = tuple(item for key, item in new.items() if key in old and old[key] != item)
    removed = tuple(key for key in old if key not in new)
    return KindPatch(added=added, changed=changed, removed=removed)


def _diff_keys(old: Mapping[str, T], new: Mapping[str, T], keys: Iterable[str]) -> KindPatch[T]:
    """_diff_kind, looking only at ``keys``: the caller vouches that nothing else changed."""
    added, changed, removed = [], [], []
    for key in sorted(set(keys)):
        before, after = old.get(key), new.get(key)
        if before is None and after is not None:
            added.append(after)
        elif before is not None and after is None:
            removed.append(key)
        elif before is not None and after is not None and before != after:
            changed.append(after)
    return KindPatch(added=tuple(added), changed=tuple(changed), removed=tuple(removed))


def diff(old: Snapshot, new: Snapshot, *, tasks_touched: Iterable[str] | None = None) -> Patch:
    """The patch from ``old`` to ``new``. With ``tasks_touched``, only those tasks are compared:
    at 20,000 tasks a full comparison costs more than everything else a change needs."""
    return Patch(
        base_seq=old.seq,
        seq=new.seq,
        status=new.status if new.status != old.status else None,
        nodes=_diff_kind(old.nodes, new.nodes),
        services=_diff_kind(old.services, new.services),
        tasks=(
            _diff_kind(old.tasks, new.tasks)
            if tasks_touched is None
            else _diff_keys(old.tasks, new.tasks, tasks_touched)
        ),
        secrets=_diff_kind(old.secrets, new.secrets),
        configs=_diff_kind(old.configs, new.configs),
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
        secrets=_apply_kind(old.secrets, patch.secrets),
        configs=_apply_kind(old.configs, patch.configs),
    )


def advance(
    old: Snapshot, new: Snapshot, *, tasks_touched: Iterable[str] | None = None
) -> tuple[Snapshot, Patch | None]:
    """Give ``new`` the next seq when its content differs from ``old``; the patch to publish, or None.

    ``tasks_touched``: the only tasks that may differ (see ``diff``); None compares them all.
    """
    numbered = dataclasses.replace(new, seq=old.seq + 1)
    patch = diff(old, numbered, tasks_touched=tasks_touched)
    if not patch:
        return old, None
    return numbered, patch
