"""What the operator's pages (services, nodes, problems) share: the live model, and their live part.

Each page is rendered whole from the model; its live part (``#live``, a template of its own) is
rendered again alone for ``?fragment=live``, which static/dashboard/follow.js fetches when the
swarm socket says the model moved. One renderer, on the server: the page's script builds no markup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware
from django.shortcuts import render

from dashboard import runtime
from dashboard.core.model import Snapshot
from dashboard.live import views
from dashboard.live.protocol import page_version

_GZIP = GZipMiddleware(lambda request: HttpResponse())  # its process_response alone, for the live parts


async def snapshot() -> Snapshot:
    return (await runtime.swarm().first_sync(timeout=5)).snapshot


def failed_window() -> timedelta:
    return timedelta(minutes=settings.SWARM_FAILED_TASKS_MINUTES)


def now() -> datetime:
    return datetime.now(UTC)


async def page(
    request: HttpRequest, template: str, live_template: str, model: Snapshot, nav: str, context: dict[str, Any]
) -> HttpResponse:
    """The page, or its live part alone when the page's script asks for it (``?fragment=live``)."""
    user = await request.auser()  # the templates must not load it lazily in an async view
    context = {**context, "seq": model.seq, "user": user, "nav": nav, "live_template": live_template}
    if request.GET.get("fragment") == "live":
        response = render(request, live_template, context)
        response["Cache-Control"] = "no-store"
        # fetched again on every model change (a matrix is large): compressed. The live parts carry no
        # CSRF token or other secret of the session (BREACH needs one beside reflected input), and
        # Django's gzip pads each response with random bytes against length guessing all the same
        return cast(HttpResponse, _GZIP.process_response(request, response))  # the same response, compressed
    context["page_version"] = page_version()
    context["status"] = model.status
    context["initial"] = {
        "seq": model.seq,
        "status": views.status_for(model.status, None),
        "heartbeatSeconds": settings.SWARM_HEARTBEAT_SECONDS,
    }
    return render(request, template, context)
