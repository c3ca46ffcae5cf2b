"""Problems first: the page (live), the list as JSON for the grid's panel, and the count in the bar.

The list is dashboard.core.problems over the live model, computed once per model and per
CLOCK_BUCKET_SECONDS (a stuck update and the failure window depend on the time as well as the model)
and shared by every page and viewer that asks, so that a bar on every page costs a lookup, not a pass
over 20,000 tasks. Signed-in users only: the list names tasks, nodes and Docker's error texts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from dashboard import runtime
from dashboard.core import problems as core
from dashboard.core.model import Snapshot
from dashboard.pages import live_page

CLOCK_BUCKET_SECONDS = 30

# (the model itself, not its id: a freed model's id is reused; the clock's bucket; its problems)
_cache: tuple[Snapshot, int, list[core.Problem]] | None = None


def of(model: Snapshot) -> list[core.Problem]:
    global _cache
    now = live_page.now()
    bucket = int(now.timestamp() // CLOCK_BUCKET_SECONDS)
    if _cache is not None and _cache[0] is model and _cache[1] == bucket:
        return _cache[2]
    found = core.find(
        model,
        now=now,
        window=live_page.failed_window(),
        failures=settings.PROBLEMS_FAILURES,
        update_stuck=timedelta(minutes=settings.PROBLEMS_UPDATE_MINUTES),
    )
    _cache = (model, bucket, found)
    return found


def current_count() -> int:
    """For the navigation bar: the problems of the model this process holds now (0 before it has one)."""
    try:
        model = runtime.swarm().watcher.snapshot
    except Exception:  # a bar is drawn even when the swarm is not set up (an error page): no count then
        return 0
    return len(of(model)) if model.status.state != "connecting" else 0


def link(problem: core.Problem) -> str:
    return reverse(problem.target, args=[problem.target_id])


def problem_json(problem: core.Problem) -> dict[str, Any]:
    return {
        "kind": problem.kind, "at": problem.at, "title": problem.title, "detail": problem.detail,
        "target": problem.target, "target_id": problem.target_id, "url": link(problem),
        "service_id": problem.service_id, "node_id": problem.node_id,
    }  # fmt: skip


def rows(model: Snapshot) -> list[dict[str, Any]]:
    shown = of(model)[: settings.PROBLEMS_SHOWN]
    return [{"p": p, "url": link(p)} for p in shown]


@require_GET
async def problems_page(request: HttpRequest) -> HttpResponse:
    model = await live_page.snapshot()
    found = of(model)
    context = {"rows": rows(model), "total": len(found), "more": max(0, len(found) - settings.PROBLEMS_SHOWN)}
    return await live_page.page(
        request, "dashboard/problems.html", "dashboard/problems_live.html", model, "problems", context
    )


@require_GET
async def api_problems(request: HttpRequest) -> JsonResponse:
    """``{"seq", "problems": [...]}``, newest first, at most PROBLEMS_SHOWN of them, and ``total``."""
    model = await live_page.snapshot()
    found = of(model)
    shown = [problem_json(p) for p in found[: settings.PROBLEMS_SHOWN]]
    response = JsonResponse({"seq": model.seq, "total": len(found), "problems": shown})
    response["Cache-Control"] = "no-store"
    return response
