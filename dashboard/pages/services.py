"""The services: the services x nodes matrix, one service in full, and its merged logs as a file.

Signed-in users only (a service's spec, env names and logs are more than a read-only screen is
shown). The matrix and each service's live part come from the model; a service's spec comes from
Docker (GET /services/{id}) masked by the one rule (dashboard.core.masking), once per page load
and again when the model says the service changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from dashboard import runtime
from dashboard.core import matrix
from dashboard.core.docker import DockerProblem, LogsUnavailable
from dashboard.core.docker.logs import LogLine
from dashboard.core.domain import Service, Task, valid_id
from dashboard.core.model import Snapshot, counts
from dashboard.core.service_detail import parse_service_detail, update_progress
from dashboard.live.service_logs import log_tasks, prefix, sort_key
from dashboard.live.wire import labels_json
from dashboard.pages import downloads, live_page, matrix_filter, matrix_render
from dashboard.pages.nav import MAX_QUERY_CHARS
from dashboard.pages.nodes import task_row
from dashboard.pages.tasks import LOG_DOWNLOAD_LINES, docker_failure, secret_keys

TASKS_SHOWN = 300  # a service's tasks listed on its page (current first, then its history, newest first)

log = logging.getLogger(__name__)


# the matrices drawn lately: every page open on /services/ asks again on each model change, most
# with the same query: (the model itself, the clock's bucket, q) -> (its HTML, rows shown, rows in all)
_drawn: list[tuple[Snapshot, int, str, tuple[str, int, int]]] = []
DRAWN_KEPT = 16
CLOCK_BUCKET_SECONDS = 30  # a cell's failures are those within the window: they age with the clock


def drawn_matrix(model: Snapshot, query: str) -> tuple[str, int, int]:
    """The matrix of ``model`` under ``query`` as HTML, with how many services it shows and has."""
    now = live_page.now()
    bucket = int(now.timestamp() // CLOCK_BUCKET_SECONDS)
    for held, at, q, found in _drawn:
        if held is model and at == bucket and q == query:
            return found
    whole = matrix.build(model, now=now, window=live_page.failed_window())
    built = matrix_filter.narrow(whole, query) if query.strip() else whole
    html = matrix_render.table(built, services_url=reverse("services"), nodes_url=reverse("nodes"))
    found = (html, sum(len(s.rows) for s in built.stacks), sum(len(s.rows) for s in whole.stacks))
    _drawn[:] = [d for d in _drawn if d[0] is model]  # an older model's are of no more use: let it go
    _drawn.insert(0, (model, bucket, query, found))
    del _drawn[DRAWN_KEPT:]
    return found


@require_GET
async def services_page(request: HttpRequest) -> HttpResponse:
    model = await live_page.snapshot()
    query = request.GET.get("q", "")[:MAX_QUERY_CHARS]
    html, shown, total = drawn_matrix(model, query)
    # every value in it is escaped by dashboard.pages.matrix_render
    context = {
        "matrix_html": mark_safe(html),  # noqa: S308
        "window": settings.SWARM_FAILED_TASKS_MINUTES,
        "filtered": bool(query.strip()),
        "shown": shown,
        "total": total,
        "filter_here": True,
    }
    return await live_page.page(
        request, "dashboard/services.html", "dashboard/services_live.html", model, "services", context
    )


def _slot(task: Task) -> str:
    return str(task.slot).zfill(6) if task.slot is not None else task.node_id


def live_context(model: Snapshot, service: Service) -> dict[str, Any]:
    """What moves on a service's page: its counts, its update and the update's progress, its tasks."""
    tasks = [t for t in model.tasks.values() if t.service_id == service.id]
    # by slot, and in a slot the task Docker wants running first, then the rest newest first
    tasks.sort(key=lambda t: (_slot(t), t.desired_state != "running", _desc(t.status_at)))
    running, desired = counts(model).get(service.id, (0, None))
    done, total = update_progress(service, tasks, service.update_started_at)  # any process's model has it
    return {
        "s": service,
        "running": running,
        "desired": desired,
        "progress": (done, total) if service.update_state in ("updating", "rollback_started") else None,
        "tasks": [task_row(model, t) for t in tasks[:TASKS_SHOWN]],
        "tasks_more": max(0, len(tasks) - TASKS_SHOWN),
    }


def _desc(stamp: str) -> str:
    """A key that sorts RFC 3339 stamps newest first."""
    return "".join(chr(0x10FFFF - ord(c)) for c in stamp)


@require_GET
async def service_page(request: HttpRequest, service_id: str) -> HttpResponse:
    if not valid_id(service_id):
        return HttpResponse("no such service", status=404, content_type="text/plain")
    model = await live_page.snapshot()
    if request.GET.get("fragment") == "live":
        # the live part comes from the model alone: a page following a service costs Docker nothing
        found = model.services.get(service_id)
        if found is None:
            return HttpResponse("no such service", status=404, content_type="text/plain")
        context = live_context(model, found)
        return await live_page.page(request, "", "dashboard/service_live.html", model, "services", context)
    if service_id not in model.services and model.status.state == "live":
        # the live model lists every service: one it has not is not worth a request to Docker
        return HttpResponse("no such service", status=404, content_type="text/plain")
    try:
        raw = await runtime.swarm().client.service_inspect(service_id)
    except DockerProblem as e:
        return docker_failure(e, "service")
    detail = parse_service_detail(raw, secret_keys())
    service = model.services.get(service_id, detail.service)
    context = {
        "d": detail,
        "labels": sorted(labels_json(detail.service.labels).items()),
        **live_context(model, service),
    }
    response = await live_page.page(
        request, "dashboard/service.html", "dashboard/service_live.html", model, "services", context
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
async def service_logs_download(request: HttpRequest, service_id: str) -> HttpResponseBase:
    """The service's logs as a file: every task's (the newest SERVICE_LOG_TASKS), merged by timestamp."""
    model = await live_page.snapshot()
    if not valid_id(service_id) or service_id not in model.services:
        return HttpResponse("no such service", status=404, content_type="text/plain")
    slot = downloads.take(request.user.get_username())
    if isinstance(slot, str):
        return HttpResponse(slot, status=429, content_type="text/plain; charset=utf-8", headers={"Retry-After": "5"})
    tasks = log_tasks(model, service_id, int(settings.SERVICE_LOG_TASKS))
    names = {t.id: prefix(model, t) for t in tasks}

    async def body() -> AsyncIterator[bytes]:
        try:
            async for data in _merged(tasks, names):
                yield data
        finally:
            slot.release()

    response = StreamingHttpResponse(body(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="service-{service_id[:12]}.log"'
    slot.tie_to(response)
    return response


async def _merged(tasks: list[Task], names: dict[str, str]) -> AsyncIterator[bytes]:
    """Each task's lines to the end, merged by timestamp as they are read, at most
    LOG_DOWNLOAD_MAX_BYTES in all. Each task's own lines come in order, so holding the next line of
    each (a heap of one line per task) is the whole merge: nothing more is held."""
    client = runtime.swarm().logs_client
    budget = settings.LOG_DOWNLOAD_MAX_BYTES
    tail = max(1, LOG_DOWNLOAD_LINES // max(1, len(tasks)))
    streams = {t.id: cast("AsyncGenerator[LogLine]", client.task_logs(t.id, follow=False, tail=tail)) for t in tasks}
    last_ts = dict.fromkeys(streams, "")
    heap: list[tuple[str, int, str, bytes]] = []
    notes: list[str] = []
    order = itertools.count()

    async def pull(task_id: str) -> None:
        """The task's next line into the heap (none when its stream ended or broke)."""
        name = names[task_id]
        try:
            while True:
                try:
                    line = await anext(streams[task_id])
                except StopAsyncIteration:
                    return
                if line.cut and not line.text:  # the empty end of a cut line
                    continue
                last_ts[task_id] = line.ts or last_ts[task_id]  # a long line's pieces go with the line
                data = f"{last_ts[task_id]} {name} {line.stream} {line.text}\n".encode()
                heapq.heappush(heap, (sort_key(last_ts[task_id]), next(order), task_id, data))
                return
        except (LogsUnavailable, DockerProblem) as e:
            notes.append(f"{name}: {e}")
        except Exception as e:
            log.exception("the log download of task %s failed", task_id)
            notes.append(f"{name}: the log stream failed ({type(e).__name__})")

    try:
        await asyncio.gather(*(pull(task_id) for task_id in streams))
        while heap or notes:
            while notes:
                yield f"# {notes.pop(0)}\n".encode()
            if not heap:
                break
            _, _, task_id, data = heapq.heappop(heap)
            if len(data) > budget:
                yield f"# cut: LOG_DOWNLOAD_MAX_BYTES is {settings.LOG_DOWNLOAD_MAX_BYTES}\n".encode()
                break
            budget -= len(data)
            yield data
            await pull(task_id)
    finally:
        for stream in streams.values():
            with contextlib.suppress(Exception):  # one stream's failure to close must not keep the others open
                await stream.aclose()
