"""A task's log socket and log download on the real lab, through the real ASGI application, when the
stream ends well and when it ends badly: a TTY task that printed "hi" and exited, a task that exits
while followed, and a log stream cut inside a frame by a proxy in front of the daemon.

Docker itself never ends a followed task log stream (verified on 20.10: ``/tasks/{id}/logs?follow=1``
stays open even for a task already complete); the dashboard ends it when the task has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from dashboard import runtime
from dashboard.core.docker.logs import CUT_NOTICE
from tests.lab import Lab, Swarm, wait_until
from visualizer.asgi import application

# Docker's timestamps have a fixed width (RFC 3339, nanoseconds): 30 characters and a space
STAMP = 31
LOGS_PATH = re.compile(rb"^(?:/v[0-9.]+)?/tasks/[^/?]+/logs(?:\?|$)")
CHATTY = ("sh", "-c", "i=0; while true; do i=$((i+1)); echo out $i; echo err $i >&2; sleep 0.05; done")
LINE = re.compile(r"^(out|err) \d+$")
ORIGIN = (b"origin", b"http://localhost")
READER = "log-reader"


@dataclass(frozen=True)
class Cut:
    """Let ``frames`` whole frames of a task log stream through, then ``into`` bytes of the next one (fewer
    than 8 cut its header, more its payload), then end the stream: cleanly (the body of a response
    without a length ends when its connection closes) or ``broken`` (a chunk announced and never sent)."""

    frames: int
    into: int
    broken: bool = False


class CuttingProxy:
    """An HTTP/1.0-minded proxy in front of the lab's Docker socket, on a unix socket of its own.

    Every request gets a connection of its own (``Connection: close`` both ways). A task log stream
    is passed on without chunking, its end marked by the connection's close - as a simple proxy does,
    and where a daemon that dies mid-frame looks like a stream that ended. With ``cut`` set, every
    task log stream is cut as it says. It runs in a thread with its own event loop, so it serves
    while the test's loop, or a process of the test's, waits on it.
    """

    def __init__(self, target: str, path: Path) -> None:
        self.target = target
        self.path = path
        self.cut: Cut | None = None
        self.log_streams = 0  # how many task log streams it has relayed
        self._loop = asyncio.new_event_loop()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, name="cutting-proxy", daemon=True)

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> CuttingProxy:
        ready = threading.Event()
        self._loop.call_soon(ready.set)
        self._thread.start()
        assert ready.wait(10), "the proxy's loop did not start"
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path), limit=2**20)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *headers = head[:-4].split(b"\r\n")
        kept = [h for h in headers if h.split(b":")[0].strip().lower() not in (b"connection", b"keep-alive")]
        length = next((int(h.split(b":")[1]) for h in kept if h.split(b":")[0].strip().lower() == b"content-length"), 0)
        body = await reader.readexactly(length) if length else b""
        up_reader, up_writer = await asyncio.open_unix_connection(self.target, limit=2**20)
        try:
            up_writer.write(b"\r\n".join([request_line, *kept, b"Connection: close", b"", b""]) + body)
            await up_writer.drain()
            target = request_line.split(b" ")[1]
            if LOGS_PATH.match(target):
                await self._log_stream(up_reader, writer)
            else:
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
        finally:
            up_writer.close()

    async def _log_stream(self, upstream: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        head = await upstream.readuntil(b"\r\n\r\n")
        status_line, *headers = head[:-4].split(b"\r\n")
        chunked = any(h.lower().replace(b" ", b"") == b"transfer-encoding:chunked" for h in headers)
        if b" 200 " not in status_line or not chunked:
            client.write(head)  # an error, or a shape this proxy does not expect: as it came
            while data := await upstream.read(65536):
                client.write(data)
            return
        self.log_streams += 1
        cut = self.cut
        broken = cut is not None and cut.broken
        kept = [h for h in headers if h.split(b":")[0].strip().lower() not in (b"transfer-encoding", b"connection")]
        kept += [b"Transfer-Encoding: chunked"] if broken else [b"Connection: close"]
        client.write(b"\r\n".join([status_line, *kept, b"", b""]))
        frames = bytearray()  # the body, to count its frames
        passed = 0
        async for data in _dechunk(upstream):
            if cut is not None:
                limit = _cut_offset(frames + data, cut)
                if limit is not None:
                    rest = (frames + data)[passed:limit]
                    client.write(b"%x\r\n" % (len(rest) + 100) + rest if broken else rest)
                    await client.drain()
                    return  # and the connection closes: a clean end, or a chunk never finished
                frames += data
            passed += len(data)
            client.write(b"%x\r\n%s\r\n" % (len(data), data) if broken else data)
            await client.drain()


def _cut_offset(body: bytes | bytearray, cut: Cut) -> int | None:
    """Where ``cut`` ends ``body``, once body holds that far; None until then."""
    at = 0
    for _ in range(cut.frames):
        if len(body) < at + 8:
            return None
        at += 8 + int.from_bytes(body[at + 4 : at + 8], "big")
    at += cut.into
    return at if len(body) >= at else None


async def _dechunk(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


@pytest.fixture
def cutting_proxy(lab: Lab, tmp_path: Path) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(lab.sock(1), tmp_path / "proxy.sock").start()
    yield proxy
    proxy.stop()


@contextlib.asynccontextmanager
async def runtime_on(docker_host: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    await runtime.stop()
    try:
        yield
    finally:
        await runtime.stop()


@pytest.fixture
async def direct(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async with runtime_on(lab.docker_host, monkeypatch):
        yield


@pytest.fixture
async def proxied(cutting_proxy: CuttingProxy, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CuttingProxy]:
    async with runtime_on(cutting_proxy.docker_host, monkeypatch):
        yield cutting_proxy


async def follow(task_id: str, timeout: float = 20) -> tuple[list[list[str]], dict[str, Any]]:
    """The log socket of a task, read to its last message: the lines, and the end or error; the socket
    must then close."""
    communicator = WebsocketCommunicator(
        application, f"/ws/tasks/{task_id}/logs?tail=200", headers=[ORIGIN, (b"cookie", await session_cookie())]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    lines: list[list[str]] = []
    try:
        try:
            async with asyncio.timeout(timeout):
                while (message := json.loads(await communicator.receive_from(timeout=timeout)))["type"] == "lines":
                    lines += message["lines"]
        except TimeoutError:
            raise AssertionError(f"the log socket never said the stream ended; lines so far: {lines[-5:]}") from None
        assert message["type"] in ("end", "error"), message
        try:
            closed = await communicator.receive_output(timeout=5)
        except TimeoutError:
            raise AssertionError(f"the log socket stayed open after {message}") from None
        assert closed["type"] == "websocket.close", closed
        return lines, message
    finally:
        with contextlib.suppress(Exception):
            await communicator.disconnect()


@database_sync_to_async
def session_cookie() -> bytes:
    user, _ = get_user_model().objects.get_or_create(username=READER)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def download(task_id: str) -> str:
    client = AsyncClient()
    user, _ = await sync_to_async(get_user_model().objects.get_or_create)(username=READER)
    await sync_to_async(client.force_login)(user)
    response = await client.get(f"/tasks/{task_id}/logs.txt")
    assert response.status_code == 200 and response.streaming
    streamed: Any = response  # a StreamingHttpResponse, which the test client's type does not say
    async with asyncio.timeout(20):
        return b"".join([chunk async for chunk in streamed.streaming_content]).decode()


async def one_task(swarm: Swarm, name: str, state: str) -> str:
    def reached() -> str | None:
        tasks = swarm.tasks(name, desired=None)
        return str(tasks[0]["ID"]) if len(tasks) == 1 and tasks[0]["Status"]["State"] == state else None

    return str(await asyncio.to_thread(wait_until, reached, timeout=30, what=f"{name}'s task {state}"))


async def chatty_task(swarm: Swarm) -> str:
    name = await asyncio.to_thread(swarm.create_service, "chatty", command=CHATTY)
    task_id = await one_task(swarm, name, "running")
    await asyncio.sleep(1)  # lines enough for any cut
    return task_id


def expect_whole(lines: list[list[str]]) -> None:
    for stream, ts, text in lines:
        assert LINE.match(text) and ts and stream == ("stdout" if text.startswith("out") else "stderr"), (stream, text)


@pytest.mark.django_db(transaction=True)
async def test_it_ends_the_log_socket_and_download_of_a_tty_task_that_printed_hi_and_exited(
    direct: None, swarm: Swarm
) -> None:
    name = await asyncio.to_thread(
        swarm.create_service, "tty", command=("sh", "-c", "echo hi"), extra=("--tty", "--restart-condition", "none")
    )
    task_id = await one_task(swarm, name, "complete")
    lines, last = await follow(task_id)
    assert [(stream, text) for stream, _, text in lines] == [("stdout", "hi")]
    assert last == {"type": "end", "reason": "the task has ended (complete)", "cut": False}
    text = await download(task_id)
    assert re.fullmatch(r"\S+Z stdout hi\n", text), text


@pytest.mark.django_db(transaction=True)
async def test_it_ends_the_log_socket_of_a_tty_task_that_printed_nothing(direct: None, swarm: Swarm) -> None:
    name = await asyncio.to_thread(
        swarm.create_service, "mute", command=("true",), extra=("--tty", "--restart-condition", "none")
    )
    task_id = await one_task(swarm, name, "complete")
    lines, last = await follow(task_id)
    assert (lines, last["type"]) == ([], "end")
    assert await download(task_id) == ""


@pytest.mark.django_db(transaction=True)
async def test_it_ends_the_log_socket_when_the_followed_task_exits(direct: None, swarm: Swarm) -> None:
    name = await asyncio.to_thread(
        swarm.create_service, "brief", command=("sh", "-c", "echo start; sleep 3; echo bye"),
        extra=("--restart-condition", "none"),
    )  # fmt: skip
    task_id = await one_task(swarm, name, "running")
    lines, last = await follow(task_id, timeout=30)
    assert [text for _, _, text in lines] == ["start", "bye"]
    assert last == {"type": "end", "reason": "the task has ended (complete)", "cut": False}


@pytest.mark.django_db(transaction=True)
async def test_it_ends_the_log_socket_and_download_of_a_stream_cut_inside_a_payload(
    proxied: CuttingProxy, swarm: Swarm
) -> None:
    task_id = await chatty_task(swarm)
    proxied.cut = Cut(frames=5, into=8 + STAMP + 3)  # a header, the timestamp and "out" or "err"
    lines, last = await follow(task_id)
    assert len(lines) == 6, lines
    expect_whole(lines[:5])
    stream, ts, text = lines[5]
    assert ts and text in ("out", "err") and stream == ("stdout" if text == "out" else "stderr")
    assert last == {"type": "end", "reason": CUT_NOTICE, "cut": True}
    rows = (await download(task_id)).splitlines()
    assert len(rows) == 7, rows
    assert rows[5].endswith((" stdout out", " stderr err")) and rows[6] == f"# {CUT_NOTICE}"
    assert proxied.log_streams == 2


@pytest.mark.django_db(transaction=True)
async def test_it_ends_the_log_socket_and_download_of_a_stream_cut_inside_a_header(
    proxied: CuttingProxy, swarm: Swarm
) -> None:
    task_id = await chatty_task(swarm)
    proxied.cut = Cut(frames=5, into=3)
    lines, last = await follow(task_id)
    assert len(lines) == 5, lines
    expect_whole(lines)
    assert last == {"type": "end", "reason": CUT_NOTICE, "cut": True}
    rows = (await download(task_id)).splitlines()
    assert len(rows) == 6 and rows[5] == f"# {CUT_NOTICE}", rows
    assert proxied.log_streams == 2


@pytest.mark.django_db(transaction=True)
async def test_it_says_the_stream_broke_when_the_transport_fails_mid_frame(proxied: CuttingProxy, swarm: Swarm) -> None:
    task_id = await chatty_task(swarm)
    proxied.cut = Cut(frames=5, into=8 + STAMP + 3, broken=True)
    # aiohttp drops what it had buffered but not handed over when the transport fails: how many of
    # the lines before the break reach the reader depends on timing, that the failure is told does not
    said = ("the log stream broke after ", "the logs could not be read: ")
    lines, last = await follow(task_id)
    assert last["type"] == "error" and last["error"].startswith(said), last
    assert len(lines) <= 6
    expect_whole([line for line in lines if len(line[2]) > 3])
    rows = (await download(task_id)).splitlines()
    assert rows[-1].startswith(tuple(f"# {s}" for s in said)), rows
    assert all(re.search(r" (stdout out|stderr err) \d+$", row) for row in rows[:-2]), rows
