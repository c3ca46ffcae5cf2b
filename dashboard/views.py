from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard.docker_client import DockerProblem, check_connection


@login_required
def grid(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/grid.html")


async def healthz(request: HttpRequest) -> JsonResponse:
    try:
        client, _info = await check_connection()
        await client.close()
    except DockerProblem as e:
        return JsonResponse({"status": "error", "docker": e.kind, "reason": str(e)}, status=503)
    return JsonResponse({"status": "ok", "docker": "live"})
