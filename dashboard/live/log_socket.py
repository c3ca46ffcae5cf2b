"""A task's logs, followed live over a websocket: the last N lines, then every new one.

The Docker log stream lives exactly as long as the socket: closing the panel or dropping the
connection cancels the reader, which closes the stream. Lines travel in small batches; a reader
that produces more than the caps per second (lines, bytes) is cut short with a notice, so neither
side's memory grows with a chatty task. A line longer than the decoder's bound (64 KiB) comes in
pieces, each but the last marked ``split`` (a fourth element ``1``).

Each followed stream holds a connection to Docker: all of them go through the swarm's one log
client, at most LOG_SOCKETS_PER_USER per user and LOG_SOCKETS_PER_PROCESS in all; a socket beyond
either is told why and closed with CLOSE_TOO_MANY. Like every socket (dashboard.live.guard), it
waits for a client that reads slowly, closes one that reads nothing, and closes when its user signs
out or loses the right to look.

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

from django.conf import settings

from dashboard import runtime
from dashboard.core.docker import DockerClient, DockerProblem, LogsUnavailable
from dashboard.core.docker.logs import CUT_NOTICE
from dashboard.core.domain import valid_id
from dashboard.core.model import FINAL_STATES
from dashboard.live.guard import GuardedConsumer
from dashboard.live.protocol import CLOSE_NOT_FOUND, CLOSE_SIGNED_OUT, CLOSE_TOO_MANY

BATCH_SECONDS = 0.05
MAX_LINES_PER_SECOND = 2000
MAX_BYTES_PER_SECOND = 1 << 20  # of line text: a TTY task printing without newlines fills 64 KiB lines
# a "lines" message stays below this many bytes of JSON: autobahn refuses to send a message over
# daphne's 1 MB limit (PayloadExceededError), and a line's JSON may be 6 times its text (\u0000)
FRAME_BYTES = 256 * 1024
DEFAULT_TAIL = 200
MAX_TAIL = 5000
FINAL_CHECK_SECONDS = 0.5
# the last lines of a task reach the stream before the model hears the task ended; a margin all the same
FINAL_GRACE_SECONDS = 1.0

log = logging.getLogger(__name__)


# the log sockets open in this process: in all, and by user id
open_sockets: dict[int, int] = {}


# Docker log streams held beyond one per socket (a service's socket reads several tasks' streams):
# counted with the sockets against LOG_SOCKETS_PER_PROCESS, as each holds a connection of the log
# client's pool all the same
extra_streams = 0
extra_by_user: dict[int, int] = {}  # the same, by the user whose socket holds them


def _open_count() -> int:
    return sum(open_sockets.values()) + extra_streams


def user_share() -> int:
    """The log streams one user may hold (sockets and their extra streams): half the process's, so
    that one user's service pages cannot take every stream of the process."""
    return max(int(settings.LOG_SOCKETS_PER_USER), int(settings.LOG_SOCKETS_PER_PROCESS) // 2)


def _user_count(user_id: int) -> int:
    return open_sockets.get(user_id, 0) + extra_by_user.get(user_id, 0)


def take_stream(user_id: int) -> str | None:
    """One more Docker log stream for a user's socket that already holds one; or why not, counting nothing."""
    global extra_streams
    if _open_count() >= int(settings.LOG_SOCKETS_PER_PROCESS):
        return "the server's log connections are all in use (LOG_SOCKETS_PER_PROCESS)"
    if _user_count(user_id) >= user_share():
        return f"your log streams are at their share of the server's ({user_share()}, half of LOG_SOCKETS_PER_PROCESS)"
    extra_streams += 1
    extra_by_user[user_id] = extra_by_user.get(user_id, 0) + 1
    return None


def give_stream(user_id: int) -> None:
    global extra_streams
    extra_streams = max(0, extra_streams - 1)
    left = extra_by_user.get(user_id, 0) - 1
    if left > 0:
        extra_by_user[user_id] = left
    else:
        extra_by_user.pop(user_id, None)


def claim(user_id: int) -> str | None:
    """Count one more log socket of this user's (a task's or a service's); or why not, counting nothing."""
    per_user, per_process = int(settings.LOG_SOCKETS_PER_USER), int(settings.LOG_SOCKETS_PER_PROCESS)
    if open_sockets.get(user_id, 0) >= per_user:
        return f"too many log streams: at most {per_user} at once per user; close another log panel"
    if _open_count() >= per_process:
        return f"too many log streams on this server (at most {per_process}); try again later"
    if _user_count(user_id) >= user_share():
        return f"too many log streams: at most {user_share()} at once per user; close a service's logs"
    open_sockets[user_id] = open_sockets.get(user_id, 0) + 1
    return None


def release(user_id: int) -> None:
    left = open_sockets.get(user_id, 0) - 1
    if left > 0:
        open_sockets[user_id] = left
    else:
        open_sockets.pop(user_id, None)


class LogConsumer(GuardedConsumer):
    """What a task's and a service's log sockets share: who may open one, the counts, the reader's end."""

    reader: asyncio.Task[None] | None = None
    client: DockerClient | None = None
    _counted: int | None = None  # the user id this socket is counted under

    async def open_for(self, what: str, found: bool) -> bool:
        """Accept, then close with the reason unless a signed-in user may follow one more log of a
        ``found`` ``what`` ("task", "service"): a refused handshake reaches a page as 1006 only."""
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self.end(CLOSE_SIGNED_OUT, f"sign in to read {what} logs")
            return False
        if not found:
            await self.end(CLOSE_NOT_FOUND, f"no such {what}")
            return False
        refused = claim(user.pk)
        if refused is not None:
            await self.end(CLOSE_TOO_MANY, refused)
            return False
        self._counted = user.pk
        await self.guard(user)
        self.client = runtime.swarm().logs_client
        return True

    async def disconnect(self, code: int) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        await self.unguard()
        if self._counted is not None:
            release(self._counted)
            self._counted = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await self.admit():
            return
        message = None
        with contextlib.suppress(ValueError):
            message = json.loads(text_data) if text_data is not None else None
        if isinstance(message, dict) and message.get("type") == "pong":
            self.pong(message)
            return
        # the page pauses, filters and downloads on its own; nothing to ask the server
        await self._send({"type": "error", "error": "this socket takes no messages"})

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))


class TaskLogsConsumer(LogConsumer):
    async def connect(self) -> None:
        task_id = str(self.scope["url_route"]["kwargs"]["task_id"])
        if not await self.open_for("task", valid_id(task_id)):
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            tail = max(0, min(int((query.get("tail") or [DEFAULT_TAIL])[0]), MAX_TAIL))
        except ValueError:
            tail = DEFAULT_TAIL
        self.reader = asyncio.create_task(self._follow(task_id, tail), name=f"logs-{task_id[:12]}")

    async def _follow(self, task_id: str, tail: int) -> None:
        """Read the stream into a list; every BATCH_SECONDS send what has come. One writer, in order."""
        assert self.client is not None
        pending: list[list[Any]] = []
        pending_bytes = skipped = received = 0
        cut = False
        final = _final_state(task_id)
        follow = final is None

        async def read() -> None:
            nonlocal skipped, received, cut, pending_bytes
            assert self.client is not None
            window_start, in_window, bytes_in_window = time.monotonic(), 0, 0
            async for line in self.client.task_logs(task_id, follow=follow, tail=tail):
                if line.cut:
                    cut = True
                    if not line.text:
                        continue
                received += 1
                now = time.monotonic()
                if now - window_start >= 1:
                    window_start, in_window, bytes_in_window = now, 0, 0
                # a page that reads slowly holds the batches back: they wait here, a second's worth at most
                full = pending_bytes >= MAX_BYTES_PER_SECOND
                if full or in_window >= MAX_LINES_PER_SECOND or bytes_in_window >= MAX_BYTES_PER_SECOND:
                    skipped += 1
                    continue
                in_window += 1
                bytes_in_window += len(line.text)
                pending_bytes += len(line.text)
                pending.append(
                    [line.stream, line.ts, line.text, 1] if line.split else [line.stream, line.ts, line.text]
                )

        async def flush() -> None:
            nonlocal skipped, pending_bytes
            if pending:
                batch = pending[:]
                pending.clear()
                pending_bytes = 0
                for frame in frames(batch):
                    await self.send(text_data=frame)
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
        if self._flow is not None:
            self._flow.stop()  # Twisted closes a connection only once no producer holds it
        await self.close(code=1000)  # nothing more will come on it


def frames(lines: list[list[Any]]) -> list[str]:
    """``lines`` messages of at most FRAME_BYTES of JSON each (one line of 64 KiB fits: at most ~390 KB)."""
    out: list[str] = []
    parts: list[str] = []
    size = 0
    for line in lines:
        text = json.dumps(line, separators=(",", ":"))
        if parts and size + len(text) > FRAME_BYTES:
            out.append(f'{{"type":"lines","lines":[{",".join(parts)}]}}')
            parts, size = [], 0
        parts.append(text)
        size += len(text) + 1
    if parts:
        out.append(f'{{"type":"lines","lines":[{",".join(parts)}]}}')
    return out


def _final_state(task_id: str) -> str | None:
    """The task's state when the model holds it in a final one (Docker's own state, not "orphaned");
    "removed" when a live model no longer holds it at all (its service was removed, or Docker let it go)."""
    snapshot = runtime.swarm().watcher.snapshot
    task = snapshot.tasks.get(task_id)
    if task is None:
        return "removed" if snapshot.status.state == "live" else None
    return task.state if task.state in FINAL_STATES else None
