"""The services x nodes matrix, pure: rows are services grouped by stack, columns nodes, each cell
the service's tasks on that node by state.

Orders are by name only (stacks, then services in a stack, nodes by hostname), never by state or
count: a new service or node is inserted where its name puts it and nothing else moves, so a
person's eyes can stay on a row. Services outside a stack come last, under "no stack".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboard.core.domain import Node, Service, Task, docker_time
from dashboard.core.model import ACTIVE_STATES, Snapshot, counts
from dashboard.core.problems import FAILED

NO_STACK = "no stack"


@dataclass(frozen=True, slots=True)
class Cell:
    node_id: str
    running: int = 0  # Docker says running, on a live node
    active: int = 0  # on its way to running, or orphaned on a down node
    failed: int = 0  # failed or rejected within the window


@dataclass(frozen=True, slots=True)
class Row:
    service: Service
    running: int
    desired: int | None  # None: as many as there are nodes (a global job)
    # (column, cell) for the nodes where the service has tasks, by column: at 500 nodes and 500
    # services most of the 250,000 cells are empty, and nothing is made for them
    cells: tuple[tuple[int, Cell], ...]


@dataclass(frozen=True, slots=True)
class Stack:
    name: str  # NO_STACK for services outside a stack
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    nodes: tuple[Node, ...]
    stacks: tuple[Stack, ...]


def _cell_part(task: Task, *, now: datetime, window: timedelta) -> str | None:
    if task.orphaned:
        return "active"
    if task.state == "running":
        return "running"
    if task.state in ACTIVE_STATES:
        return "active"
    if task.state in FAILED:
        since = docker_time(task.status_at)
        return "failed" if since is None or now - since <= window else None
    return None


def build(snapshot: Snapshot, *, now: datetime, window: timedelta) -> Matrix:
    nodes = tuple(sorted(snapshot.nodes.values(), key=lambda n: (n.hostname, n.id)))
    column = {node.id: i for i, node in enumerate(nodes)}
    tallies: dict[str, dict[int, dict[str, int]]] = {}
    for task in snapshot.tasks.values():
        i = column.get(task.node_id)
        part = _cell_part(task, now=now, window=window) if i is not None else None
        if i is None or part is None:
            continue
        per_node = tallies.setdefault(task.service_id, {}).setdefault(i, {})
        per_node[part] = per_node.get(part, 0) + 1
    service_counts = counts(snapshot)
    by_stack: dict[str, list[Row]] = {}
    for service in sorted(snapshot.services.values(), key=lambda s: (s.name, s.id)):
        running, desired = service_counts[service.id]
        cells = tuple((i, Cell(nodes[i].id, **tally)) for i, tally in sorted(tallies.get(service.id, {}).items()))
        by_stack.setdefault(service.stack, []).append(Row(service, running, desired, cells))
    names = sorted(name for name in by_stack if name)
    stacks = [Stack(name, tuple(by_stack[name])) for name in names]
    if "" in by_stack:
        stacks.append(Stack(NO_STACK, tuple(by_stack[""])))
    return Matrix(nodes=nodes, stacks=tuple(stacks))
