"""The grid: every node a column, every task a box; its first paint rendered here."""

from __future__ import annotations

from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from dashboard import access, runtime
from dashboard.core.model import counts
from dashboard.live.protocol import page_version
from dashboard.live.wire import status_json
from dashboard.pages import render as grid_render


async def read_only_viewer(request: HttpRequest) -> access.Viewer | None:
    """For the grid and the wall: a signed-in user, a kiosk token (?kiosk=), or anonymous when allowed."""
    user = await request.auser()
    return await sync_to_async(access.viewer_for)(
        user, request.GET.get(access.KIOSK_PARAM), remote_addr=access.remote_addr(request), where=request.path
    )


@login_not_required
async def grid(request: HttpRequest) -> HttpResponse:
    viewer = await read_only_viewer(request)
    if viewer is None:
        # a dead kiosk token does not travel on to the login page
        query = request.GET.copy()
        query.pop(access.KIOSK_PARAM, None)
        return redirect_to_login(request.path + (f"?{query.urlencode()}" if query else ""))
    watcher = await runtime.swarm().first_sync(timeout=5)
    snapshot = watcher.snapshot
    history = request.GET.get("history") == "1"
    failed_window = timedelta(minutes=settings.SWARM_FAILED_TASKS_MINUTES)
    service_counts = counts(snapshot).values()
    context = {
        "viewer": viewer,
        "user": viewer.user,  # the template must not load it lazily in this async view
        "cluster_name": settings.CLUSTER_NAME,
        "seq": snapshot.seq,
        "status": snapshot.status,
        "history": history,
        "page_version": page_version(),
        # every value in these two is escaped by dashboard.pages.render
        "grid_html": mark_safe(grid_render.grid(snapshot, failed_window=failed_window, history=history)),  # noqa: S308
        "legend_html": mark_safe(grid_render.legend(snapshot)),  # noqa: S308
        "node_count": len(snapshot.nodes),
        "service_count": len(snapshot.services),
        "running": sum(r for r, _ in service_counts),
        "desired": sum(d or 0 for _, d in service_counts),
        # the model itself comes once, over the websocket; the page shows the HTML meanwhile
        "initial": {
            "seq": snapshot.seq,
            "status": status_json(snapshot.status),
            "failedWindowMinutes": settings.SWARM_FAILED_TASKS_MINUTES,
            # the page tells a dead line from an idle swarm, and judges Docker's last answer, by this
            "heartbeatSeconds": settings.SWARM_HEARTBEAT_SECONDS,
        },
    }
    return render(request, "dashboard/grid.html", context)
