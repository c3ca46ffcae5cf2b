"""A task in full: the details panel, its inspect JSON, the reveal of a masked value, log download.

Signed-in users only (kiosk tokens and anonymous viewers never reach these). Panel, page and
inspect JSON are masked by one rule (dashboard.core.masking, SECRET_PATTERNS); revealing a value
needs the operator role and is written to the audit log with the value's path, never the value.
The log download holds the task's output only, nothing of its spec.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from dashboard import access, runtime
from dashboard.core.details import TaskDetail, health_output
from dashboard.core.docker import DockerAPIError, DockerProblem, LogsUnavailable
from dashboard.core.docker.logs import CUT_NOTICE, LogLine
from dashboard.core.domain import Task, valid_id
from dashboard.core.masking import SecretKeys, rule, valid_pointer
from dashboard.core.model import FINAL_STATES
from dashboard.pages import downloads
from dashboard.pages.render import STATE_ICONS, image_tag, task_state

LOG_DOWNLOAD_LINES = 10000

log = logging.getLogger(__name__)


async def _detail(request: HttpRequest, task_id: str) -> tuple[TaskDetail, dict[str, Any]] | HttpResponse:
    if not valid_id(task_id):
        return HttpResponse("no such task", status=404, content_type="text/plain")
    try:
        return await runtime.swarm().client.task_detail(task_id, service_tasks=_model_tasks, keys=secret_keys())
    except DockerProblem as e:
        return docker_failure(e, "task")


def docker_failure(e: DockerProblem, what: str) -> HttpResponse:
    """A page whose object Docker could not give: gone (404), refused (502) or unreachable (503)."""
    if isinstance(e, DockerAPIError) and e.status == 404:
        return HttpResponse(f"no such {what} (Docker no longer knows it)", status=404, content_type="text/plain")
    if isinstance(e, DockerAPIError):
        return HttpResponse(f"Docker refused: {e}", status=502, content_type="text/plain")
    return HttpResponse(f"Docker is not reachable: {e}", status=503, content_type="text/plain")


def secret_keys() -> SecretKeys:
    return rule(settings.SECRET_PATTERNS)


def _model_tasks(service_id: str) -> list[Task] | None:
    """A service's tasks as the live model holds them: the slot history costs Docker nothing. None
    while the model is not live (connecting, reconnecting): then Docker is asked."""
    snapshot = runtime.swarm().watcher.snapshot
    if snapshot.status.state != "live":
        return None
    return [t for t in snapshot.tasks.values() if t.service_id == service_id]


async def _with_agent_word(detail: TaskDetail) -> TaskDetail:
    """A container on another node: its health as that node's agent last said it, masked as the
    check's output of a container on this node is (dashboard.core.details)."""
    if detail.container_on_this_node:
        return detail
    word = await runtime.swarm().agent_word(detail.task)
    if word is None or not word.health:
        return detail
    return dataclasses.replace(detail, health=word.health, health_output=health_output(word.output, secret_keys()))


async def _context(request: HttpRequest, detail: TaskDetail) -> dict[str, Any]:
    user = await request.auser()
    detail = await _with_agent_word(detail)
    task = detail.task
    snapshot = runtime.swarm().watcher.snapshot
    known = snapshot.tasks.get(task.id)
    if known is not None and known.oom_killed and not task.oom_killed:
        # Docker's answer never says it: only the node's agent saw it, and the model keeps its word
        task = dataclasses.replace(task, oom_killed=True)
    state = task_state(task)
    node = snapshot.nodes.get(task.node_id)
    return {
        "node_name": node.hostname if node else "",
        "final": state in FINAL_STATES,
        "d": detail,
        "t": task,
        "state": state,
        "icon": STATE_ICONS.get(state, "·"),
        "tag": image_tag(task.image),
        "times": [
            (label, value, _relative(value))
            for label, value in (
                ("created", task.created_at),
                ("updated", task.updated_at),
                ("in this state since", task.status_at),
            )
            if value
        ],
        "history": [(h, task_state(h), STATE_ICONS.get(task_state(h), "·")) for h in detail.history],
        "can_reveal": await sync_to_async(user.has_perm)("dashboard.reveal_env"),
        "user": user,
    }


def _relative(stamp: str) -> str:
    try:
        when = datetime.fromisoformat(stamp.rstrip("Z")[:26]).replace(tzinfo=UTC)
    except ValueError:
        return ""
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


@require_GET
async def task_page(request: HttpRequest, task_id: str) -> HttpResponse:
    found = await _detail(request, task_id)
    if isinstance(found, HttpResponse):
        return found
    return render(request, "dashboard/task_page.html", await _context(request, found[0]))


@require_GET
async def task_panel(request: HttpRequest, task_id: str) -> HttpResponse:
    found = await _detail(request, task_id)
    if isinstance(found, HttpResponse):
        return found
    template = "dashboard/task_detail.html" if request.GET.get("part") == "details" else "dashboard/task_panel.html"
    return render(request, template, await _context(request, found[0]))


@require_GET
async def task_inspect(request: HttpRequest, task_id: str) -> HttpResponse:
    found = await _detail(request, task_id)
    if isinstance(found, HttpResponse):
        return found
    return JsonResponse(found[1], json_dumps_params={"indent": 2})


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_GET
async def task_usage(request: HttpRequest, task_id: str) -> JsonResponse:
    """The task's resource use, the last 15 minutes of its node agent's samples as this process
    kept them: ``samples`` [[unix time, cpu cores, memory bytes], ...] oldest first, ``memory_limit``
    (bytes, 0: none of its own), ``every`` (seconds between two samples)."""
    swarm = runtime.swarm()
    if not valid_id(task_id):
        return _no_store(JsonResponse({"error": "no such task"}, status=404))
    usage = swarm.usage.of(task_id)
    if not usage["samples"] and task_id not in swarm.watcher.snapshot.tasks:
        return _no_store(JsonResponse({"error": "no such task"}, status=404))
    return _no_store(JsonResponse({"task_id": task_id, **usage}))


@require_POST
async def task_reveal(request: HttpRequest, task_id: str) -> JsonResponse:
    """POST path=<a JSON Pointer into the task's inspect JSON>: the string masked there, read fresh."""
    user = await request.auser()
    if not await sync_to_async(user.has_perm)("dashboard.reveal_env"):
        return _no_store(JsonResponse({"error": "revealing masked values needs the operator role"}, status=403))
    path = request.POST.get("path", "")
    if not valid_id(task_id) or not valid_pointer(path):
        return _no_store(JsonResponse({"error": "expected a task and the path of a masked value"}, status=400))
    try:
        value = await runtime.swarm().client.task_masked_value(task_id, path, secret_keys())
    except DockerAPIError as e:
        if e.status == 404:
            return _no_store(JsonResponse({"error": "no such task (Docker no longer knows it)"}, status=404))
        return _no_store(JsonResponse({"error": f"Docker refused: {e}"}, status=502))
    except DockerProblem as e:
        return _no_store(JsonResponse({"error": f"Docker: {e}"}, status=502))
    if value is None:
        return _no_store(JsonResponse({"error": f"nothing is masked at {path}"}, status=404))
    await sync_to_async(access.audit)(
        user.get_username(), "value.reveal", f"task {task_id}", remote_addr=access.remote_addr(request), path=path
    )
    return _no_store(JsonResponse({"path": path, "value": value}))


@require_GET
async def task_logs_download(request: HttpRequest, task_id: str) -> HttpResponseBase:
    if not valid_id(task_id):
        return HttpResponse("no such task", status=404, content_type="text/plain")
    slot = downloads.take(request.user.get_username())
    if isinstance(slot, str):
        return HttpResponse(slot, status=429, content_type="text/plain; charset=utf-8", headers={"Retry-After": "5"})
    client = runtime.swarm().client
    limit = settings.LOG_DOWNLOAD_MAX_BYTES

    async def lines() -> AsyncIterator[bytes]:
        # whatever happens to the stream, the file ends: what arrived, then a last line saying why not more
        received, sent, cut = 0, 0, False
        try:
            # an async generator: closed on the way out, a cut download leaves no Docker stream open
            logs = cast("AsyncGenerator[LogLine]", client.task_logs(task_id, follow=False, tail=LOG_DOWNLOAD_LINES))
            async with aclosing(logs) as stream:
                async for line in stream:
                    if line.cut:
                        cut = True
                        if not line.text:
                            continue
                    data = f"{line.ts} {line.stream} {line.text}\n".encode()
                    if sent + len(data) > limit:
                        # daphne holds what the client has not read yet: a download is held to a size
                        cut_at = f"# cut at {sent} bytes after {received} line(s): LOG_DOWNLOAD_MAX_BYTES is {limit}"
                        yield f"{cut_at}\n".encode()
                        return
                    received += 1
                    sent += len(data)
                    yield data
        except LogsUnavailable as e:
            yield f"# {e}\n".encode()
        except DockerProblem as e:
            what = f"the log stream broke after {received} line(s)" if received else "the logs could not be read"
            yield f"# {what}: {e}\n".encode()
        except Exception as e:
            log.exception("the log download of task %s failed", task_id)
            yield f"# the log stream failed after {received} line(s) ({type(e).__name__})\n".encode()
        else:
            if cut:
                yield f"# {CUT_NOTICE}\n".encode()
        finally:
            slot.release()  # done, failed, or cancelled (the client went away)

    response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="task-{task_id[:12]}.log"'
    slot.tie_to(response)
    return response


def log_json(lines: list[tuple[str, str, str]]) -> str:
    return json.dumps({"type": "lines", "lines": lines}, separators=(",", ":"))
