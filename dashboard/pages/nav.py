"""What the navigation bar (dashboard/nav.html) needs on every page: the cluster's name and the filter."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

MAX_QUERY_CHARS = 500  # a filter longer than this is cut, not refused: it is only ever text in a form field


def nav(request: HttpRequest) -> dict[str, str]:
    return {"cluster_name": settings.CLUSTER_NAME, "q": request.GET.get("q", "")[:MAX_QUERY_CHARS]}
