"""The JSON API: the model as /api/snapshot (the testability contract), and what this process asks of Docker."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from dashboard import runtime
from dashboard.core.docker import logs as docker_logs
from dashboard.core.shared.replicated import Replicated
from dashboard.live.wire import snapshot_json


async def api_snapshot(request: HttpRequest) -> JsonResponse:
    watcher = await runtime.swarm().first_sync(timeout=5)
    return JsonResponse(snapshot_json(watcher.snapshot))


async def api_metrics(request: HttpRequest) -> JsonResponse:
    """What this process asks of Docker, by endpoint, and how many events it has read."""
    watcher = runtime.swarm().watcher
    return JsonResponse(
        {
            "docker_requests": dict(watcher.request_counts()),
            # the views' own client: task details, logs, secrets (the grid and the wall ask nothing)
            "views_docker_requests": dict(runtime.swarm().client_requests()),
            "events_seen": watcher.events_seen,
            "seq": watcher.snapshot.seq,
            "open_log_streams": docker_logs.open_streams,
            # shared through Redis: does this process hold the lease (ask Docker), and the model's epoch
            "leading": watcher.leader is not None if isinstance(watcher, Replicated) else True,
            "epoch": watcher.epoch if isinstance(watcher, Replicated) else 0,
        }
    )
