"""What a swarm socket's viewer is sent: least data for read-only screens, and a wall's filter.

A signed-in user's socket gets the whole model (dashboard.live.wire) through the swarm's group, as
before. Two things make a socket's *view* narrower, and both are applied here, on the server:

- Read-only viewers (a kiosk token, anonymous viewing) get exactly the fields the grid and the
  wall draw: no labels (a Traefik basic-auth hash lives in one), no node addresses, no secret or
  config names, and none of the other kinds. ``KIOSK_SHOW_LABELS`` and ``KIOSK_SHOW_ADDRESSES``
  let an admin add labels and node addresses back.
- A wall's ``?stack=a,b&service=x`` (also on its socket's URL): only the matching services, their
  tasks, and the nodes that hold at least one of those tasks (running, or in the recent history
  Docker keeps). A service's name or id matches ``service``, its stack ``stack``; both given, both
  must match (as static/dashboard/wall.js decides).

Read-only viewers are also told *that* Docker is out of reach, not *why*: the watcher's reason
may name the Docker endpoint (its address, DOCKER_CERT_PATH); they get a sentence per error kind.

Patches are projected once per patch and view, not per socket, by a hub (dashboard.live.hub). A
patch with nothing for a view still goes out, empty, with its seq: a page checks that every patch
starts where the one before ended (``base_seq``) and asks for the whole model when one does not.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dashboard.core.domain import Service, Task
from dashboard.core.model import Patch, Snapshot, Status
from dashboard.live.wire import node_json, service_json, status_json, task_json

log = logging.getLogger(__name__)

# What the grid and the wall draw (static/dashboard/{grid,wall,draw,live}.js, dashboard/pages/render.py)
NODE_FIELDS = (
    "id", "hostname", "role", "leader", "state", "availability", "cpus", "memory_bytes", "engine_version", "agent",
)  # fmt: skip
SERVICE_FIELDS = (
    "id", "name", "stack", "image", "mode", "replicas", "running_tasks", "desired_tasks", "update_state",
    "updated_at", "hue", "running", "desired",
)  # fmt: skip
TASK_FIELDS = (
    "id", "service_id", "slot", "node_id", "desired_state", "state", "docker_state", "orphaned", "message", "error",
    "exit_code", "image", "created_at", "updated_at", "status_at", "health", "oom_killed",
)  # fmt: skip
# What a read-only screen is told of why Docker is out of reach, by the error's kind
# (dashboard.core.docker.errors); the watcher's own words may name the endpoint or a file.
PUBLIC_REASONS = {
    "unreachable": "the dashboard cannot reach Docker",
    "stalled": "the dashboard's connection to Docker stopped moving",
    "tls": "the dashboard's TLS connection to Docker fails",
    "not_in_swarm": "the Docker daemon the dashboard watches is not in a swarm",
    "worker": "the Docker node the dashboard watches is not a swarm manager",
    "version": "the dashboard and Docker share no API version",
    "api": "Docker refused the dashboard's request",
    "internal": "internal error in the dashboard",
}
PUBLIC_REASON = "the dashboard has lost Docker"
FILTER_PARAMS = ("stack", "service")
MAX_FILTER_NAMES = 100
MAX_FILTER_NAME = 255


@dataclass(frozen=True, slots=True)
class View:
    read_only: bool  # only the fields the grid and the wall draw
    labels: bool = True  # read-only: labels too (KIOSK_SHOW_LABELS)
    addresses: bool = True  # read-only: node addresses too (KIOSK_SHOW_ADDRESSES)
    stacks: frozenset[str] | None = None  # a wall's filter: None, any
    services: frozenset[str] | None = None  # names or ids

    @property
    def filtered(self) -> bool:
        return self.stacks is not None or self.services is not None

    def matches(self, service: Service | None) -> bool:
        """Does this view show this service (and so its tasks)? A task whose service is not known
        yet is not shown until its service comes."""
        if not self.filtered:
            return True
        if service is None:
            return False
        if self.stacks is not None and service.stack not in self.stacks:
            return False
        return self.services is None or service.name in self.services or service.id in self.services

    def key(self) -> str:
        """A short name for the view, safe in a Channels group name."""
        flags = f"{'ro' if self.read_only else 'all'}{int(self.labels)}{int(self.addresses)}"
        if not self.filtered:
            return flags
        text = json.dumps([sorted(self.stacks or ()), sorted(self.services or ()), self.stacks is None,
                           self.services is None])  # fmt: skip
        return f"{flags}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def parse_filter(query: Mapping[str, list[str]]) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """``stack`` and ``service`` from a query string, each comma-separated and repeatable; ValueError
    with the reason for one that no wall could mean."""
    found: list[frozenset[str] | None] = []
    for param in FILTER_PARAMS:
        names = {n.strip() for v in query.get(param, []) for n in v.split(",")} - {""}
        if len(names) > MAX_FILTER_NAMES:
            raise ValueError(f"?{param}=: at most {MAX_FILTER_NAMES} names")
        if any(len(n) > MAX_FILTER_NAME for n in names):
            raise ValueError(f"?{param}=: a name is at most {MAX_FILTER_NAME} characters")
        found.append(frozenset(names) if names else None)
    return found[0], found[1]


def view_for(read_only: bool, query: Mapping[str, list[str]], *, labels: bool, addresses: bool) -> View | None:
    """The view of a socket; None for the whole model (a signed-in user's socket without a filter)."""
    stacks, services = parse_filter(query)
    if not read_only:
        return View(read_only=False, stacks=stacks, services=services) if stacks or services else None
    return View(read_only=True, labels=labels, addresses=addresses, stacks=stacks, services=services)


def status_for(status: Status, view: View | None) -> dict[str, Any]:
    """The status as this view is sent it: a read-only screen's reason is generic, by kind."""
    data = status_json(status)
    if view is not None and view.read_only and status.reason:
        data["reason"] = PUBLIC_REASONS.get(status.kind, PUBLIC_REASON)
    return data


def group_of(swarm_group: str, view: View) -> str:
    return f"{swarm_group}.v-{view.key()}"


# --- one item ---------------------------------------------------------------------------------------


def node(data: dict[str, Any], view: View) -> dict[str, Any]:
    if not view.read_only:
        return data
    out = {k: data[k] for k in NODE_FIELDS if k in data}
    out["labels"] = data.get("labels", {}) if view.labels else {}
    if view.addresses:
        out["address"] = data.get("address", "")
    return out


def service(data: dict[str, Any], view: View) -> dict[str, Any]:
    if not view.read_only:
        return data
    out = {k: data[k] for k in SERVICE_FIELDS if k in data}
    out["labels"] = data.get("labels", {}) if view.labels else {}  # the grid's legend reads it
    return out


def task(data: dict[str, Any], view: View) -> dict[str, Any]:
    return {k: data[k] for k in TASK_FIELDS if k in data} if view.read_only else data


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


class TaskTexts:
    """Each task's projected JSON text, kept while the task stays the same (as swarm_socket's
    cache of the whole ones): a read-only wall that connects costs a pass and a join."""

    def __init__(self, render: Callable[[Task], dict[str, Any]]) -> None:
        self._render = render
        self._texts: dict[str, tuple[Task, str]] = {}

    def of(self, tasks: Mapping[str, Task], keep: Callable[[Task], bool] | None = None) -> list[str]:
        known = self._texts
        kept: dict[str, tuple[Task, str]] = {}
        out: list[str] = []
        for task_id, t in tasks.items():
            hit = known.get(task_id)
            if hit is None or (hit[0] is not t and hit[0] != t):
                hit = (t, _dumps(self._render(t)))
            kept[task_id] = hit
            if keep is None or keep(t):
                out.append(hit[1])
        self._texts = kept
        return out


_texts = {
    True: TaskTexts(lambda t: task(task_json(t), View(read_only=True))),
    False: TaskTexts(task_json),
}


# --- the whole model ----------------------------------------------------------------------------------


def node_counts(snapshot: Snapshot, view: View) -> Counter[str]:
    """Per node id, how many of the view's tasks it holds."""
    services = snapshot.services
    return Counter(t.node_id for t in snapshot.tasks.values() if view.matches(services.get(t.service_id)))


Parts = tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]


def snapshot_parts(snapshot: Snapshot, whole: dict[str, Any], view: View, held: Counter[str] | None = None) -> Parts:
    """The nodes, services and task texts a socket of this view is sent of the model; ``whole`` is
    ``wire.snapshot_json(snapshot, with_tasks=False)``; ``held``, the view's ``node_counts`` when
    known already."""
    nodes, services = whole["nodes"], whole["services"]
    keep: Callable[[Task], bool] | None = None
    if view.filtered:
        shown = {s.id for s in snapshot.services.values() if view.matches(s)}
        held = node_counts(snapshot, view) if held is None else held
        nodes = [n for n in nodes if held.get(n["id"], 0) > 0]
        services = [s for s in services if s["id"] in shown]
        keep = lambda t: t.service_id in shown  # noqa: E731
    texts = _texts[view.read_only].of(snapshot.tasks, keep)
    return [node(n, view) for n in nodes], [service(s, view) for s in services], texts


def page_snapshot(snapshot: Snapshot, view: View | None) -> Snapshot:
    """The model a read-only viewer's first paint is rendered from: its legend's titles show
    service labels only when allowed (nothing else on the page shows labels or addresses)."""
    if view is None or not view.read_only or view.labels:
        return snapshot
    return replace(snapshot, services={k: replace(s, labels=()) for k, s in snapshot.services.items()})


# --- patches ---------------------------------------------------------------------------------------


def _kind(upsert: Iterable[dict[str, Any]], removed: Iterable[str]) -> dict[str, Any]:
    return {"upsert": list(upsert), "removed": list(removed)}


def _message(
    patch: Patch, view: View, epoch: int, nodes: dict[str, Any], services: dict[str, Any], tasks: dict[str, Any]
) -> str:
    message: dict[str, Any] = {"type": "patch", "epoch": epoch, "base_seq": patch.base_seq, "seq": patch.seq,
                               "nodes": nodes, "services": services, "tasks": tasks}  # fmt: skip
    if patch.status is not None:
        message["status"] = status_for(patch.status, view)
    return _dumps(message)


def unfiltered_patch(patch: Patch, view: View, epoch: int = 0) -> str:
    """A read-only view of the whole swarm: every change, each item cut to what is drawn."""
    return _message(
        patch,
        view,
        epoch,
        _kind((node(node_json(n), view) for n in (*patch.nodes.added, *patch.nodes.changed)), patch.nodes.removed),
        _kind(
            (service(service_json(s), view) for s in (*patch.services.added, *patch.services.changed)),
            patch.services.removed,
        ),
        _kind((task(task_json(t), view) for t in (*patch.tasks.added, *patch.tasks.changed)), patch.tasks.removed),
    )


def filtered_patch(old: Snapshot, new: Snapshot, patch: Patch, view: View, held: Counter[str], epoch: int = 0) -> str:
    """A filtered view's share of ``patch`` (``old`` -> ``new``); ``held`` (per node, the view's
    tasks on it, as of ``old``) is brought up to ``new``. Its cost follows the patch, except when a
    service enters or leaves the filter (its stack label changed): then its tasks come or go too."""

    def shown(snapshot: Snapshot, service_id: str) -> bool:
        return view.matches(snapshot.services.get(service_id))

    services_up: list[Service] = []
    services_gone: list[str] = []
    entered: set[str] = set()
    left: set[str] = set()
    for sid in (*(s.id for s in (*patch.services.added, *patch.services.changed)), *patch.services.removed):
        was, now = shown(old, sid), shown(new, sid)
        if now:
            services_up.append(new.services[sid])
        elif was:
            services_gone.append(sid)
        if was != now:
            (entered if now else left).add(sid)

    patched = {t.id for t in (*patch.tasks.added, *patch.tasks.changed)}
    task_ids = patched | set(patch.tasks.removed)
    if entered:
        task_ids |= {t.id for t in new.tasks.values() if t.service_id in entered}
    if left:
        task_ids |= {t.id for t in old.tasks.values() if t.service_id in left}
    before: dict[str, int] = {}

    def count(node_id: str, delta: int) -> None:
        before.setdefault(node_id, held.get(node_id, 0))
        held[node_id] += delta
        if held[node_id] <= 0:
            del held[node_id]

    tasks_up: list[Task] = []
    tasks_gone: list[str] = []
    for tid in task_ids:
        was_task, now_task = old.tasks.get(tid), new.tasks.get(tid)
        was = was_task is not None and shown(old, was_task.service_id)
        now = now_task is not None and shown(new, now_task.service_id)
        if was and was_task is not None:
            count(was_task.node_id, -1)
        if now and now_task is not None:
            count(now_task.node_id, 1)
            if not was or tid in patched:
                tasks_up.append(now_task)
        elif was:
            tasks_gone.append(tid)

    changed_nodes = {n.id for n in (*patch.nodes.added, *patch.nodes.changed)}
    nodes_up = []
    nodes_gone = []
    for nid in sorted(set(before) | changed_nodes | set(patch.nodes.removed)):
        was = nid in old.nodes and before.get(nid, held.get(nid, 0)) > 0
        now = nid in new.nodes and held.get(nid, 0) > 0
        if now and (not was or nid in changed_nodes):
            nodes_up.append(new.nodes[nid])
        elif was and not now:
            nodes_gone.append(nid)

    return _message(
        patch,
        view,
        epoch,
        _kind((node(node_json(n), view) for n in nodes_up), nodes_gone),
        _kind((service(service_json(s), view) for s in services_up), services_gone),
        _kind((task(task_json(t), view) for t in tasks_up), tasks_gone),
    )
