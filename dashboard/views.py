from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from dashboard import render as grid_render
from dashboard import runtime
from dashboard.state import counts, node_json, service_json, snapshot_json, status_json


@login_required
async def grid(request: HttpRequest) -> HttpResponse:
    watcher = await runtime.first_sync(timeout=5)
    snapshot = watcher.snapshot
    history = request.GET.get("history") == "1"
    failed_window = timedelta(minutes=settings.SWARM_FAILED_TASKS_MINUTES)
    service_counts = counts(snapshot).values()
    context = {
        "user": await request.auser(),  # the template must not load it lazily in this async view
        "cluster_name": settings.CLUSTER_NAME,
        "seq": snapshot.seq,
        "status": snapshot.status,
        "history": history,
        # every value in these two is escaped by dashboard.render
        "grid_html": mark_safe(grid_render.grid(snapshot, failed_window=failed_window, history=history)),  # noqa: S308
        "legend_html": mark_safe(grid_render.legend(snapshot)),  # noqa: S308
        "node_count": len(snapshot.nodes),
        "service_count": len(snapshot.services),
        "running": sum(r for r, _ in service_counts),
        "desired": sum(d or 0 for _, d in service_counts),
        "initial": {
            "seq": snapshot.seq,
            "status": status_json(snapshot.status),
            "nodes": [node_json(n) for n in snapshot.nodes.values()],
            "services": [service_json(s) for s in snapshot.services.values()],
            "failedWindowMinutes": settings.SWARM_FAILED_TASKS_MINUTES,
        },
    }
    return render(request, "dashboard/grid.html", context)


@login_required
async def api_snapshot(request: HttpRequest) -> JsonResponse:
    watcher = await runtime.first_sync(timeout=5)
    return JsonResponse(snapshot_json(watcher.snapshot))


async def healthz(request: HttpRequest) -> JsonResponse:
    watcher = await runtime.first_sync(timeout=5)
    status = watcher.snapshot.status
    if status.state == "live":
        return JsonResponse({"status": "ok", "docker": "live", "since": status.since})
    return JsonResponse(
        {
            "status": "error",
            "docker": status.state,
            "kind": status.kind,
            "reason": status.reason,
            "since": status.since,
        },
        status=503,
    )
