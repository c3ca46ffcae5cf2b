"""GET /tasks/{id}/logs: a few generated lines per started task and, while someone follows, a new line every
``interval`` seconds; multiplexed (8-byte frame headers) unless the service has a TTY.

As dockerd writes them (daemon/server/httputils/write_log_stream.go): an optional RFC 3339 timestamp with
nine digits of fraction, optional details (the swarm context as key=value,...), then the line; `tail`
counts lines over the chosen streams, `tail=0` sends no past line; what swarm's log broker could not
reach ends a non-follow stream as a "system error" frame (stream 3).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bench.simulator.events import timestamp
from bench.simulator.model import ApiError, Task, rfc3339_fixed, rpc_error

if TYPE_CHECKING:
    from bench.simulator.server import Simulator

STDOUT, STDERR, SYSTEM_ERROR = 1, 2, 3
INITIAL_LINES = 4
KEEP = 1000  # lines kept per task, as a rotated log file keeps the recent ones
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


@dataclass(frozen=True, slots=True)
class Line:
    ns: int
    stream: int
    text: str


def _text(task: Task, n: int) -> Line:
    """The n-th line of a task: one in three on stderr."""
    where = f"{task.service_name}.{task.slot if task.slot is not None else task.node_id[:12]}"
    if n == 0:
        return Line(task.started_ns, STDOUT, f"{where} starting (task {task.id})")
    if n % 3 == 2:
        return Line(task.started_ns + n * 10_000_000, STDERR, f"{where} warning: request {n} slow ({90 + n % 7}ms)")
    return Line(task.started_ns + n * 10_000_000, STDOUT, f"{where} handled request {n}")


class LogBook:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lines: dict[str, list[Line]] = {}
        self._followers: dict[str, set[asyncio.Queue[Line | None]]] = {}
        self._tickers: dict[str, asyncio.Task[None]] = {}

    def lines(self, task: Task) -> list[Line]:
        """Made when first asked for, so 20,000 untouched tasks cost nothing."""
        if task.id not in self._lines:
            self._lines[task.id] = [_text(task, n) for n in range(INITIAL_LINES)] if task.started_ns else []
        return self._lines[task.id]

    def follow(self, task: Task) -> asyncio.Queue[Line | None]:
        queue: asyncio.Queue[Line | None] = asyncio.Queue()
        self._followers.setdefault(task.id, set()).add(queue)
        if task.id not in self._tickers and self.interval > 0:
            self._tickers[task.id] = asyncio.get_running_loop().create_task(self._tick(task), name="sim-logs")
        return queue

    def unfollow(self, task: Task, queue: asyncio.Queue[Line | None]) -> None:
        followers = self._followers.get(task.id, set())
        followers.discard(queue)
        if not followers:
            self._followers.pop(task.id, None)
            ticker = self._tickers.pop(task.id, None)
            if ticker is not None:
                ticker.cancel()

    async def _tick(self, task: Task) -> None:
        """One writer per task, however many follow it: every follower sees the same lines."""
        while True:
            await asyncio.sleep(self.interval)
            if task.state != "running":
                continue
            lines = self.lines(task)
            n = len(lines)
            line = Line(time.time_ns(), STDERR if n % 3 == 2 else STDOUT, _text(task, n).text)
            lines.append(line)
            del lines[:-KEEP]
            for queue in self._followers.get(task.id, ()):
                queue.put_nowait(line)

    def close_all(self) -> None:
        for ticker in self._tickers.values():
            ticker.cancel()
        self._tickers.clear()
        for followers in self._followers.values():
            for queue in followers:
                queue.put_nowait(None)


def _bool(raw: str | None) -> bool:
    """httputils.BoolValue."""
    return (raw or "").strip().lower() not in ("", "0", "no", "false", "none")


def _tail(raw: str) -> int | None:
    if raw in ("", "all"):
        return None
    try:
        tail = int(raw)
    except ValueError:
        raise ApiError(500, 'tail value must be a positive integer or "all"') from None
    if tail < 0:
        raise ApiError(500, "negative tail values not supported")
    return tail


class _Writer:
    def __init__(self, task: Task, *, tty: bool, timestamps: bool, details: bool) -> None:
        self.tty, self.timestamps = tty, timestamps
        self.details = ""
        if details:
            context = (("node", task.node_id), ("service", task.service_id), ("task", task.id))
            self.details = ",".join(f"com.docker.swarm.{k}.id={v}" for k, v in context) + " "

    def frame(self, line: Line) -> bytes:
        text = (rfc3339_fixed(line.ns) + " " if self.timestamps else "") + self.details + line.text
        payload = (text + ("\r\n" if self.tty else "\n")).encode()
        return payload if self.tty else bytes((line.stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload

    def error(self, message: str) -> bytes:
        payload = f"Error grabbing logs: {message}\n".encode()
        return payload if self.tty else bytes((SYSTEM_ERROR, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


def _unreachable(sim: Simulator, task: Task) -> str:
    """What swarm's log broker reports for a task whose logs no node can send."""
    if not task.node_id:
        reason = f"task {task.id} has not been scheduled"
    elif sim._nodes[task.node_id].state != "ready":
        reason = f"node {task.node_id} is not available"
    else:
        return ""
    prefix = "warning: incomplete log stream. some logs could not be retrieved for the following reasons: "
    return rpc_error("Unknown", prefix + reason)


async def task_logs(sim: Simulator, request: web.Request) -> web.StreamResponse:
    task = sim.find_task(request.match_info["id"])
    query = request.query
    stdout, stderr = _bool(query.get("stdout")), _bool(query.get("stderr"))
    if not stdout and not stderr:
        raise ApiError(500, "Bad parameters: you must choose at least one stream")
    tail, since = _tail(query.get("tail", "")), timestamp(query.get("since"))
    follow = _bool(query.get("follow"))
    tty = bool(task.spec["ContainerSpec"].get("TTY"))
    writer = _Writer(task, tty=tty, timestamps=_bool(query.get("timestamps")), details=_bool(query.get("details")))
    wanted = {s for s, on in ((STDOUT, stdout), (STDERR, stderr)) if on}
    past = [line for line in sim.logs.lines(task) if line.stream in wanted and line.ns >= (since or 0)]
    past = past if tail is None else past[len(past) - tail :] if tail else []
    queue = sim.logs.follow(task) if follow else None
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    if not sim.profile.legacy:  # API 1.42 named the two formats; 20.10 sends no Content-Type at all
        response.content_type = RAW if tty else MULTIPLEXED
    try:
        await response.prepare(request)
        for line in past:
            await response.write(writer.frame(line))
        if queue is None:
            problem = _unreachable(sim, task)
            if problem:
                await response.write(writer.error(problem))
            return response
        while (new := await queue.get()) is not None:
            if new.stream in wanted:
                await response.write(writer.frame(new))
    except ConnectionError:
        pass  # the client went away
    finally:
        if queue is not None:
            sim.logs.unfollow(task, queue)
    return response
