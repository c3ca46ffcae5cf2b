"""What needs a person now, computed from a Snapshot: pure, no I/O, no Django.

Each kind answers a question an operator opens the dashboard with:

- ``short``: a service runs fewer tasks than it wants (counted as the grid counts: a task on a
  down node does not run);
- ``failing``: a slot whose tasks failed again and again (``failures`` or more within the window),
  with the last error and exit code;
- ``pending``: tasks the scheduler cannot place, with its reason ("no suitable node ...");
- ``orphaned``: tasks Docker still calls active on a node that is down;
- ``node-down`` and ``node-drained``: nodes that run nothing new;
- ``update``: a service update that was rolled back, is paused, or is still updating after
  ``update_stuck``.

Newest first, by when the problem began as far as the model tells (a task's Status.Timestamp, a
service's UpdatedAt). Docker gives a node no time of its change: a node's problem has none, and
comes first, as a node down is the widest problem there is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from dashboard.core.domain import Node, Service, Task, docker_time
from dashboard.core.model import NODE_GONE_STATES, Snapshot, counts

Kind = Literal["short", "failing", "pending", "orphaned", "node-down", "node-drained", "update"]
Target = Literal["service", "task", "node"]
FAILED = frozenset({"failed", "rejected"})
ROLLED_BACK = frozenset({"rollback_started", "rollback_paused", "rollback_completed", "paused"})


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Kind
    at: str  # RFC 3339 (Docker's), when it began as far as the model tells; "" when it does not
    title: str  # the service or node it is about, as a person names it
    detail: str  # what is wrong, in words (Docker's own error text included)
    target: Target  # what the link opens
    target_id: str
    service_id: str = ""
    node_id: str = ""


def find(
    snapshot: Snapshot,
    *,
    now: datetime,
    window: timedelta,
    failures: int = 3,
    update_stuck: timedelta = timedelta(minutes=30),
) -> list[Problem]:
    """Every problem the snapshot shows, newest first (see the module's docstring)."""
    found = [
        *_nodes(snapshot.nodes.values()),
        *_short(snapshot),
        *_failing(snapshot, now=now, window=window, failures=failures),
        *_pending(snapshot),
        *_orphaned(snapshot),
        *_updates(snapshot.services.values(), now=now, update_stuck=update_stuck),
    ]
    # undated ones (nodes first) before the rest, newest first; a stable sort keeps ties in the order above
    return sorted(found, key=lambda p: (p.at == "", p.at), reverse=True)


def _name(snapshot: Snapshot, service_id: str) -> str:
    service = snapshot.services.get(service_id)
    return service.name if service else service_id[:12]


def _hostname(snapshot: Snapshot, node_id: str) -> str:
    node = snapshot.nodes.get(node_id)
    return (node.hostname or node_id[:12]) if node else node_id[:12]


def _nodes(nodes: Iterable[Node]) -> list[Problem]:
    return [problem for node in sorted(nodes, key=lambda n: (n.hostname, n.id)) for problem in _node(node)]


def _node(node: Node) -> list[Problem]:
    name = node.hostname or node.id[:12]
    if node.state in NODE_GONE_STATES:
        why = f"node {node.state}" + (f": {node.message}" if node.message else "")
        return [Problem("node-down", "", name, why, "node", node.id, node_id=node.id)]
    if node.availability != "active":
        why = f"availability {node.availability}: no new tasks are placed on it"
        return [Problem("node-drained", "", name, why, "node", node.id, node_id=node.id)]
    return []


def _short(snapshot: Snapshot) -> list[Problem]:
    newest: dict[str, str] = {}
    for task in snapshot.tasks.values():
        if task.status_at > newest.get(task.service_id, ""):
            newest[task.service_id] = task.status_at
    found = []
    for service_id, (running, desired) in counts(snapshot).items():
        service = snapshot.services[service_id]
        if desired is None or service.mode not in ("replicated", "global") or running >= desired:
            continue
        at = max(newest.get(service_id, ""), service.updated_at)
        detail = f"{running} of {desired} tasks running"
        found.append(Problem("short", at, service.name, detail, "service", service_id, service_id=service_id))
    return found


def _slot_key(task: Task) -> tuple[str, str]:
    # a global service's tasks are keyed by node, as Docker keys them
    return task.service_id, str(task.slot) if task.slot is not None else task.node_id


def _failing(snapshot: Snapshot, *, now: datetime, window: timedelta, failures: int) -> list[Problem]:
    by_slot: dict[tuple[str, str], list[Task]] = {}
    for task in snapshot.tasks.values():
        if task.state not in FAILED:
            continue
        since = docker_time(task.status_at)
        if since is not None and now - since <= window:
            by_slot.setdefault(_slot_key(task), []).append(task)
    found = []
    for (service_id, slot), tasks in sorted(by_slot.items()):
        if len(tasks) < failures:
            continue
        last = max(tasks, key=lambda t: (t.status_at, t.id))
        name = _name(snapshot, service_id)
        where = f".{slot}" if last.slot is not None else f" on {_hostname(snapshot, slot)}"
        exit_code = f" (exit code {last.exit_code})" if last.exit_code is not None else ""
        minutes = max(1, int(window.total_seconds() // 60))
        detail = f"failed {len(tasks)} times in {minutes} min; last: {last.error or last.state}{exit_code}"
        found.append(
            Problem(
                "failing",
                last.status_at,
                f"{name}{where}",
                detail,
                "task",
                last.id,
                service_id=service_id,
                node_id=last.node_id,
            )
        )
    return found


def _pending(snapshot: Snapshot) -> list[Problem]:
    found = []
    for task in snapshot.tasks.values():
        if task.state != "pending" or task.desired_state != "running":
            continue
        slot = f".{task.slot}" if task.slot is not None else ""
        reason = task.error or task.message or "waiting for the scheduler"
        found.append(
            Problem(
                "pending",
                task.status_at,
                f"{_name(snapshot, task.service_id)}{slot}",
                f"pending: {reason}",
                "task",
                task.id,
                service_id=task.service_id,
            )
        )
    return found


def _orphaned(snapshot: Snapshot) -> list[Problem]:
    found = []
    for task in snapshot.tasks.values():
        if not task.orphaned:
            continue
        slot = f".{task.slot}" if task.slot is not None else ""
        host = _hostname(snapshot, task.node_id)
        detail = f"Docker says {task.state} on {host}, which is down: its fate is unknown"
        found.append(
            Problem(
                "orphaned",
                task.status_at,
                f"{_name(snapshot, task.service_id)}{slot}",
                detail,
                "task",
                task.id,
                service_id=task.service_id,
                node_id=task.node_id,
            )
        )
    return found


def _updates(services: Iterable[Service], *, now: datetime, update_stuck: timedelta) -> list[Problem]:
    found = (_update(service, now=now, update_stuck=update_stuck) for service in services)
    return [problem for problem in found if problem is not None]


def _update(service: Service, *, now: datetime, update_stuck: timedelta) -> Problem | None:
    state = service.update_state
    message = f": {service.update_message}" if service.update_message else ""
    if state in ROLLED_BACK:
        detail = f"update {state.replace('_', ' ')}{message}"
    elif state == "updating":
        since = docker_time(service.update_started_at or service.updated_at)
        if since is None or now - since <= update_stuck:
            return None
        detail = f"still updating after {int((now - since).total_seconds() // 60)} min{message}"
    else:
        return None
    return Problem("update", service.updated_at, service.name, detail, "service", service.id, service_id=service.id)
