"""The nodes: a list, and one node in full with its tasks. Read from the live model alone (no call
to Docker), live through static/dashboard/follow.js. Signed-in users only: a node's address,
labels and tasks are more than a read-only screen is shown."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from dashboard.core.domain import Node, Task, valid_id
from dashboard.core.model import ACTIVE_STATES, Snapshot
from dashboard.live.wire import labels_json
from dashboard.pages import live_page
from dashboard.pages.render import STATE_ICONS, node_order, task_state

HISTORY_SHOWN = 100  # finished tasks listed on a node's page, newest first


def current(task: Task) -> bool:
    """On the node now, or meant to be: Docker wants it running, or it has not let go of it yet."""
    return task.desired_state == "running" or task.state in ACTIVE_STATES


def node_rows(model: Snapshot) -> list[dict[str, Any]]:
    per_node: dict[str, int] = {}
    for task in model.tasks.values():
        if task.desired_state == "running":
            per_node[task.node_id] = per_node.get(task.node_id, 0) + 1
    return [{"n": node, "tasks": per_node.get(node.id, 0)} for node in node_order(model.nodes.values())]


def task_row(model: Snapshot, task: Task) -> dict[str, Any]:
    service = model.services.get(task.service_id)
    node = model.nodes.get(task.node_id)
    state = task_state(task)
    return {
        "t": task,
        "name": (service.name if service else task.service_id[:12]) + (f".{task.slot}" if task.slot else ""),
        "state": state,
        "icon": STATE_ICONS.get(state, "·"),
        "node_name": (node.hostname or node.id[:12]) if node else "",
    }


def newest_first(tasks: list[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: (t.status_at, t.id), reverse=True)


@require_GET
async def nodes_page(request: HttpRequest) -> HttpResponse:
    model = await live_page.snapshot()
    context = {"rows": node_rows(model)}
    return await live_page.page(request, "dashboard/nodes.html", "dashboard/nodes_live.html", model, "nodes", context)


def node_context(model: Snapshot, node: Node) -> dict[str, Any]:
    tasks = [t for t in model.tasks.values() if t.node_id == node.id]
    now = [t for t in tasks if current(t)]
    done = [t for t in tasks if not current(t)]
    return {
        "n": node,
        "labels": sorted(labels_json(node.labels).items()),
        "memory_gib": f"{node.memory_bytes / 2**30:.1f}" if node.memory_bytes else "",
        "current": [task_row(model, t) for t in newest_first(now)],
        "history": [task_row(model, t) for t in newest_first(done)[:HISTORY_SHOWN]],
        "history_more": max(0, len(done) - HISTORY_SHOWN),
    }


@require_GET
async def node_page(request: HttpRequest, node_id: str) -> HttpResponse:
    model = await live_page.snapshot()
    node = model.nodes.get(node_id) if valid_id(node_id) else None
    if node is None:
        return HttpResponse("no such node", status=404, content_type="text/plain")
    return await live_page.page(
        request, "dashboard/node.html", "dashboard/node_live.html", model, "nodes", node_context(model, node)
    )
