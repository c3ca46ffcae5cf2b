"""Readiness (/healthz: 503 while Docker is not live) and liveness (/livez: the image's HEALTHCHECK)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse

from dashboard import runtime


@login_not_required
async def healthz(request: HttpRequest) -> JsonResponse:
    watcher = await runtime.swarm().first_sync(timeout=5)
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


@login_not_required
async def livez(request: HttpRequest) -> JsonResponse:
    """Liveness, for the image's HEALTHCHECK: 200 while this process serves and its watcher runs or
    is being restarted, whatever Docker's state (that is /healthz: readiness)."""
    alive, body = runtime.registry().liveness()
    return JsonResponse(body, status=200 if alive else 503)
