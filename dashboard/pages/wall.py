"""The wall screen: a kiosk view of the whole swarm for a big screen, unattended for weeks.

The page is a shell; static/dashboard/wall.js takes the model from the websocket and lays it out
to fit the screen. The server only hands it the settings it needs (stale bound, page time, ...).
Its ``?stack=`` and ``?service=`` travel on to its socket, which sends only what they select.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.live.protocol import page_version
from dashboard.pages.grid import exchange_kiosk_url, read_only_viewer

MIN_FONT_PX = 12  # no text on the wall is smaller, whatever the screen and the swarm


@login_not_required
async def wall(request: HttpRequest) -> HttpResponse:
    exchanged = await exchange_kiosk_url(request)
    if exchanged is not None:
        return exchanged
    viewer = await read_only_viewer(request)
    if viewer is None:
        return redirect_to_login(request.get_full_path())
    config = {
        "clusterName": settings.CLUSTER_NAME,
        "staleSeconds": settings.WALL_STALE_SECONDS,
        "pageSeconds": settings.WALL_PAGE_SECONDS,
        "heartbeatSeconds": settings.SWARM_HEARTBEAT_SECONDS,
        "failedWindowMinutes": settings.SWARM_FAILED_TASKS_MINUTES,
        "minFontPx": MIN_FONT_PX,
    }
    context = {"cluster_name": settings.CLUSTER_NAME, "config": config, "page_version": page_version()}
    return render(request, "dashboard/wall.html", context)
