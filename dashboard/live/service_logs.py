"""A service's logs: every task's lines, from every node, merged in timestamp order and followed live.

Docker's own /services/{id}/logs is unordered and loses lines across nodes (moby#33183, #33866),
so each task's stream (/tasks/{id}/logs, which the manager relays from the task's node, in order)
is read on its own, and the lines are merged here: each waits REORDER_SECONDS after it arrived, in
a heap by timestamp, so that a line of another node that comes a little later still goes out in
its place. A line later than that goes out when it comes (its timestamp says where it belonged).

Bounded as a task's log socket is (dashboard.live.log_socket, whose counts, caps and frames this
socket shares): one socket per service counted against LOG_SOCKETS_PER_USER and _PER_PROCESS,
at most SERVICE_LOG_TASKS task streams (the newest tasks), at most MAX_LINES_PER_SECOND and
MAX_BYTES_PER_SECOND in all, and at most MAX_HELD_LINES and MAX_HELD_BYTES waiting in the heap
(a line that finds it full is skipped and counted, as a task's socket skips: a page on a slow link
cannot make the server hold more), of which one flush sends at most FLUSH_LINES and FLUSH_BYTES. Tasks that start later
(a scale, an update) are joined as the model shows them; a followed task that ends is let go.
Each line travels as ``[stream, ts, "name.slot@node", text]`` (a fifth ``1``: cut at 64 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from typing import Any

from django.conf import settings

from dashboard import runtime
from dashboard.core.docker import DockerProblem, LogsUnavailable
from dashboard.core.domain import Task, valid_id
from dashboard.core.model import FINAL_STATES, Snapshot
from dashboard.live import log_socket

REORDER_SECONDS = 1.0
MAX_HELD_LINES = 5000
MAX_HELD_BYTES = 4 << 20  # of line text and prefix
FLUSH_LINES = 2000
FLUSH_BYTES = 1 << 20
TAIL_PER_TASK = 200
LINE_OVERHEAD = 64  # what a held line costs besides its text and prefix
CHECK_SECONDS = 1.0  # how often the model is asked for new and ended tasks

log = logging.getLogger(__name__)


def _now() -> float:
    """The loop's clock (monotonic; a test fast-forwards it)."""
    return asyncio.get_running_loop().time()


def sort_key(ts: str) -> str:
    """Docker's RFC 3339 timestamps compare as text once the fraction has its nine digits."""
    head, rest = ts[:19], ts[19:]  # "2026-11-30T11:00:00", then ".123Z" or "Z"
    digits = "".join(itertools.takewhile(str.isdigit, rest[1:])) if rest.startswith(".") else ""
    zone = rest[1 + len(digits) :] if rest.startswith(".") else rest
    return f"{head}.{digits.ljust(9, '0')}{zone}"


class Reorder:
    """Lines from several streams, out in timestamp order once each has waited ``window`` seconds."""

    def __init__(self, window: float, max_held: int, max_bytes: int = MAX_HELD_BYTES) -> None:
        self.window = window
        self.max_held = max_held
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._heap: list[tuple[str, int, float, int, list[Any]]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def full(self) -> bool:
        """Whether a further line must be skipped: the heap holds all it may."""
        return len(self._heap) >= self.max_held or self.held_bytes >= self.max_bytes

    def push(self, ts: str, line: list[Any], arrived: float, size: int = 0) -> None:
        heapq.heappush(self._heap, (sort_key(ts), next(self._seq), arrived, size, line))
        self.held_bytes += size

    def ready(self, now: float, max_lines: int = FLUSH_LINES, max_bytes: int = FLUSH_BYTES) -> list[list[Any]]:
        """The lines due, at most ``max_lines`` and about ``max_bytes``: the earliest first, for as
        long as the earliest has waited its window (or the heap is full)."""
        out: list[list[Any]] = []
        taken = 0
        while self._heap and len(out) < max_lines and taken < max_bytes:
            over = len(self._heap) > self.max_held or self.held_bytes > self.max_bytes
            if self._heap[0][2] > now - self.window and not over:
                break
            taken += self._pop(out)
        return out

    def drain(self, max_lines: int = FLUSH_LINES, max_bytes: int = FLUSH_BYTES) -> list[list[Any]]:
        """The earliest lines, due or not (the stream ends), at most as many as ready() gives."""
        out: list[list[Any]] = []
        taken = 0
        while self._heap and len(out) < max_lines and taken < max_bytes:
            taken += self._pop(out)
        return out

    def _pop(self, out: list[list[Any]]) -> int:
        *_, size, line = heapq.heappop(self._heap)
        self.held_bytes -= size
        out.append(line)
        return size


def log_tasks(model: Snapshot, service_id: str, limit: int) -> list[Task]:
    """The service's tasks that have (had) a container, newest first, at most ``limit``."""
    tasks = [t for t in model.tasks.values() if t.service_id == service_id and t.container_id]
    return sorted(tasks, key=lambda t: (t.created_at, t.id), reverse=True)[:limit]


def prefix(model: Snapshot, task: Task) -> str:
    """``name.slot@node``, as a person names a task and where it ran (a global service's: ``name@node``)."""
    service = model.services.get(task.service_id)
    node = model.nodes.get(task.node_id)
    name = service.name if service else task.service_id[:12]
    slot = f".{task.slot}" if task.slot is not None else ""
    return f"{name}{slot}@{(node.hostname or node.id[:12]) if node else task.node_id[:12]}"


class ServiceLogsConsumer(log_socket.LogConsumer):
    async def connect(self) -> None:
        service_id = str(self.scope["url_route"]["kwargs"]["service_id"])
        # a process just started has no model yet: wait for its first listing (bounded), not 4404
        found = valid_id(service_id) and service_id in (await runtime.swarm().first_sync(timeout=5)).snapshot.services
        if await self.open_for("service", found):
            self.reader = asyncio.create_task(self._run(service_id), name=f"service-logs-{service_id[:12]}")

    async def _run(self, service_id: str) -> None:
        merger = _Merger(self, service_id)
        try:
            await merger.run()
        finally:
            await merger.stop()
        if self._flow is not None:
            self._flow.stop()  # Twisted closes a connection only once no producer holds it
        await self.close(code=1000)


class _Merger:
    """One socket's readers (a task each), the rate budget they share, and the heap they feed."""

    def __init__(self, consumer: ServiceLogsConsumer, service_id: str) -> None:
        self.consumer = consumer
        self.service_id = service_id
        self.heap = Reorder(REORDER_SECONDS, MAX_HELD_LINES)
        self.readers: dict[str, asyncio.Task[None]] = {}
        self.ended_at: dict[str, float] = {}  # a followed task the model says has ended -> when it was seen
        self.notices: list[str] = []
        self.user_id = consumer._counted or 0  # whose share its extra streams count against
        self.crowded = False  # told the page that the process has no room for more streams
        self.skipped = 0
        self.window_start, self.in_window, self.bytes_in_window = _now(), 0, 0

    async def run(self) -> None:
        check_at = 0.0
        while True:
            now = _now()
            if now >= check_at:
                check_at = now + CHECK_SECONDS
                model = runtime.swarm().watcher.snapshot
                if self.service_id not in model.services and model.status.state == "live":
                    break
                self._join(model, now)
            await asyncio.sleep(log_socket.BATCH_SECONDS)
            await self._flush(self.heap.ready(_now()))
        for _ in range(MAX_HELD_LINES):  # each takes one line at least; the readers may still add
            if not len(self.heap):
                break
            await self._flush(self.heap.drain())
        await self.consumer._send({"type": "end", "reason": "the service was removed", "cut": False})

    def _join(self, model: Snapshot, now: float) -> None:
        limit = int(settings.SERVICE_LOG_TASKS)
        reading = sum(1 for reader in self.readers.values() if not reader.done())
        for task in log_tasks(model, self.service_id, limit):
            if task.id in self.readers:
                continue
            if reading >= limit:
                break
            # the socket's count holds one stream; every further one needs room in the process
            extra = reading > 0
            why = log_socket.take_stream(self.user_id) if extra else None
            if why is not None:
                if not self.crowded:
                    self.crowded = True
                    self.notices.append(f"not every task's log is read: {why}; the others join when some close")
                break
            reading += 1
            follow = task.state not in FINAL_STATES
            self.readers[task.id] = asyncio.create_task(
                self._read(task.id, prefix(model, task), follow, extra), name=f"service-logs-read-{task.id[:12]}"
            )
        for task_id, reader in list(self.readers.items()):
            held = model.tasks.get(task_id)
            if reader.done():
                if held is None:  # gone from the model: it will not be listed again
                    del self.readers[task_id]
                continue
            if held is not None and held.state not in FINAL_STATES:
                continue
            # Docker never ends a followed stream by itself: let it go a moment after the task ended
            since = self.ended_at.setdefault(task_id, now)
            if now - since >= log_socket.FINAL_GRACE_SECONDS:
                reader.cancel()

    async def _read(self, task_id: str, name: str, follow: bool, extra: bool) -> None:
        assert self.consumer.client is not None
        last_ts = ""
        try:
            async for line in self.consumer.client.task_logs(task_id, follow=follow, tail=TAIL_PER_TASK):
                if line.cut and not line.text:
                    continue
                last_ts = line.ts or last_ts  # a piece of a long line goes with the line it continues
                if self.heap.full():  # the page reads slower than the tasks write
                    self.skipped += 1
                    continue
                if not self._admit(len(line.text)):
                    continue
                item: list[Any] = [line.stream, line.ts or last_ts, name, line.text]
                if line.split:
                    item.append(1)
                self.heap.push(last_ts, item, _now(), len(line.text) + len(name) + LINE_OVERHEAD)
        except LogsUnavailable as e:
            self.notices.append(f"{name}: {e}")
        except DockerProblem as e:
            self.notices.append(f"{name}: the log stream broke: {e}")
        except Exception as e:  # a bug in one task's stream must not end the others
            log.exception("the log stream of task %s failed", task_id)
            self.notices.append(f"{name}: the log stream failed ({type(e).__name__})")
        finally:
            self.ended_at.pop(task_id, None)
            if extra:
                log_socket.give_stream(self.user_id)

    def _admit(self, size: int) -> bool:
        now = _now()
        if now - self.window_start >= 1:
            self.window_start, self.in_window, self.bytes_in_window = now, 0, 0
        if self.in_window >= log_socket.MAX_LINES_PER_SECOND or self.bytes_in_window >= log_socket.MAX_BYTES_PER_SECOND:
            self.skipped += 1
            return False
        self.in_window += 1
        self.bytes_in_window += size
        return True

    async def _flush(self, lines: list[list[Any]]) -> None:
        for frame in log_socket.frames(lines) if lines else ():
            await self.consumer.send(text_data=frame)
        if self.skipped:
            await self.consumer._send({"type": "skipped", "count": self.skipped})
            self.skipped = 0
        while self.notices:
            await self.consumer._send({"type": "notice", "text": self.notices.pop(0)})

    async def stop(self) -> None:
        for reader in self.readers.values():
            reader.cancel()
        for reader in self.readers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
