"""A task's logs, followed live over a websocket: the last N lines, then every new one.

The Docker log stream lives exactly as long as the socket: closing the panel or dropping the
connection cancels the reader, which closes the stream. Lines travel in small batches; a reader
that produces more than the cap per second is cut short with a notice, so neither side's memory
grows with a chatty task.

However the stream ends, the page is told, then the socket closes: ``end`` (its ``reason``, and
``cut`` when the stream stopped inside a frame, the last line maybe incomplete) or ``error``.
Docker never ends a followed task log stream by itself, not even for a task that has exited: a task
in a final state is read to its end instead of followed, and a followed one that reaches a final
state (as the watcher's model says) is ended here, FINAL_GRACE_SECONDS later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard import runtime
from dashboard.core.docker import DockerClient, DockerProblem, LogsUnavailable
from dashboard.core.docker.logs import CUT_NOTICE
from dashboard.core.domain import valid_id
from dashboard.core.model import FINAL_STATES

BATCH_SECONDS = 0.05
MAX_LINES_PER_SECOND = 2000
DEFAULT_TAIL = 200
MAX_TAIL = 5000
FINAL_CHECK_SECONDS = 0.5
# the last lines of a task reach the stream before the model hears the task ended; a margin all the same
FINAL_GRACE_SECONDS = 1.0

log = logging.getLogger(__name__)


class TaskLogsConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    reader: asyncio.Task[None] | None = None
    client: DockerClient | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        task_id = str(self.scope["url_route"]["kwargs"]["task_id"])
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        if not valid_id(task_id):
            await self.close(code=4404)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            tail = max(0, min(int((query.get("tail") or [DEFAULT_TAIL])[0]), MAX_TAIL))
        except ValueError:
            tail = DEFAULT_TAIL
        await self.accept()
        self.client = runtime.swarm().new_client()
        self.reader = asyncio.create_task(self._follow(task_id, tail), name=f"logs-{task_id[:12]}")

    async def disconnect(self, code: int) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        if self.client is not None:
            await self.client.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # the page pauses, filters and downloads on its own; nothing to ask the server
        await self._send({"type": "error", "error": "this socket takes no messages"})

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def _follow(self, task_id: str, tail: int) -> None:
        """Read the stream into a list; every BATCH_SECONDS send what has come. One writer, in order."""
        assert self.client is not None
        pending: list[list[str]] = []
        skipped = received = 0
        cut = False
        final = _final_state(task_id)
        follow = final is None

        async def read() -> None:
            nonlocal skipped, received, cut
            assert self.client is not None
            window_start, in_window = time.monotonic(), 0
            async for line in self.client.task_logs(task_id, follow=follow, tail=tail):
                if line.cut:
                    cut = True
                    if not line.text:
                        continue
                received += 1
                now = time.monotonic()
                if now - window_start >= 1:
                    window_start, in_window = now, 0
                if in_window >= MAX_LINES_PER_SECOND:
                    skipped += 1
                    continue
                in_window += 1
                pending.append([line.stream, line.ts, line.text])

        async def flush() -> None:
            nonlocal skipped
            if pending:
                await self._send({"type": "lines", "lines": pending[:]})
                pending.clear()
            if skipped:
                await self._send({"type": "skipped", "count": skipped})
                skipped = 0

        reader = asyncio.create_task(read(), name=f"logs-read-{task_id[:12]}")
        check_at, stop_at = time.monotonic() + FINAL_CHECK_SECONDS, float("inf")
        try:
            while True:
                await asyncio.wait([reader], timeout=BATCH_SECONDS)
                await flush()
                if reader.done():
                    reader.result()
                    break
                now = time.monotonic()
                if final is None and now >= check_at:
                    check_at = now + FINAL_CHECK_SECONDS
                    final = _final_state(task_id)
                    if final is not None:
                        stop_at = now + FINAL_GRACE_SECONDS
                if now >= stop_at:
                    break
            reader.cancel()
            await flush()
            if cut:
                reason = CUT_NOTICE
            elif final is not None:
                reason = f"the task has ended ({final})"
            else:
                reason = "the task's log stream ended"
            await self._send({"type": "end", "reason": reason, "cut": cut})
        except LogsUnavailable as e:
            await self._send({"type": "error", "error": str(e)})
        except DockerProblem as e:
            what = f"the log stream broke after {received} line(s)" if received else "the logs could not be read"
            await self._send({"type": "error", "error": f"{what}: {e}"})
        except Exception as e:  # a bug must not leave the page "following" a stream that is gone
            log.exception("the log stream of task %s failed", task_id)
            await self._send({"type": "error", "error": f"the log stream failed ({type(e).__name__})"})
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        await self.close(code=1000)  # nothing more will come on it


def _final_state(task_id: str) -> str | None:
    """The task's state when the model holds it in a final one (Docker's own state, not "orphaned");
    "removed" when a live model no longer holds it at all (its service was removed, or Docker let it go)."""
    snapshot = runtime.swarm().watcher.snapshot
    task = snapshot.tasks.get(task_id)
    if task is None:
        return "removed" if snapshot.status.state == "live" else None
    return task.state if task.state in FINAL_STATES else None
