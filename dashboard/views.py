from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard import runtime
from dashboard.state import snapshot_json


@login_required
def grid(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/grid.html")


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
