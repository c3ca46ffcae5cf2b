"""What the navigation bar (dashboard/nav.html) needs on every page: the cluster's name, the filter,
and how many problems the model shows (counted only when a signed-in user's bar shows the link)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from dashboard.pages import problems

MAX_QUERY_CHARS = 500  # a filter longer than this is cut, not refused: it is only ever text in a form field


def nav(request: HttpRequest) -> dict[str, str | Callable[[], int]]:
    return {
        "cluster_name": settings.CLUSTER_NAME,
        "q": request.GET.get("q", "")[:MAX_QUERY_CHARS],
        # a callable: the template calls it only where it shows the count
        "problem_count": problems.current_count,
    }
