"""A service's log socket over a fixed model and scripted task streams: the lines of several tasks
come out in timestamp order, however they arrive, and its Docker streams count against the process's."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from dashboard import access, runtime
from dashboard.core.docker.logs import LogLine
from dashboard.core.model import Snapshot, Status
from dashboard.live import log_socket
from tests.unit.fakedocker import node, service, task

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")

# (seconds after the stream opens, timestamp, text): node b's first line is the earliest, yet comes last
STREAMS = {
    "ta": [(0.0, "2026-11-30T11:00:02.000000000Z", "a-2"), (0.1, "2026-11-30T11:00:04.000000000Z", "a-4")],
    "tb": [(0.3, "2026-11-30T11:00:01.000000000Z", "b-1"), (0.3, "2026-11-30T11:00:03.000000000Z", "b-3")],
    "tc": [(0.0, "2026-11-30T11:00:00.000000000Z", "c-0")],
}


class ScriptedLogs:
    def __init__(self) -> None:
        self.open: set[str] = set()

    async def task_logs(self, task_id: str, *, follow: bool, tail: int) -> AsyncIterator[LogLine]:
        self.open.add(task_id)
        try:
            waited = 0.0
            for at, ts, text in STREAMS[task_id]:
                await asyncio.sleep(at - waited)
                waited = at
                yield LogLine(stream="stdout", ts=ts, text=text)
            await asyncio.Event().wait()  # followed: Docker never ends it
        finally:
            self.open.discard(task_id)


@pytest.fixture
def scripted(static_model: Any, monkeypatch: pytest.MonkeyPatch) -> ScriptedLogs:
    tasks = [
        dataclasses.replace(task(t, "s1", n, slot=i + 1), container_id=f"c-{t}", created_at=f"2026-11-30T10:0{i}:00Z")
        for i, (t, n) in enumerate((("ta", "a"), ("tb", "b"), ("tc", "a")))
    ]  # fmt: skip
    static_model.snapshot = Snapshot.build(
        seq=1, status=Status(state="live"), nodes=[node("a"), node("b")], services=[service("s1", replicas=3)],
        tasks=tasks,
    )  # fmt: skip
    logs = ScriptedLogs()
    monkeypatch.setattr(runtime.swarm(), "_logs_client", logs)
    return logs


def _cookie(username: str = "ann") -> str:
    user = get_user_model().objects.create_user(username=username)
    access.set_role(user, "viewer")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def messages(socket: WebsocketCommunicator, until: int, timeout: float = 5) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while sum(len(m.get("lines", [])) for m in got) < until:
            got.append(json.loads(await socket.receive_from(timeout=timeout)))
    return got


async def test_it_merges_the_tasks_lines_in_timestamp_order(scripted: ScriptedLogs) -> None:
    from visualizer.asgi import application

    cookie = await sync_to_async(_cookie)()
    socket = WebsocketCommunicator(application, "/ws/services/s1/logs", headers=[ORIGIN, (b"cookie", cookie.encode())])
    assert (await socket.connect(timeout=5))[0]
    got = await messages(socket, until=5)
    lines = [line for m in got for line in m.get("lines", [])]
    assert [(who, text) for _, _, who, text in lines] == [
        ("svc-s1.3@host-a", "c-0"), ("svc-s1.2@host-b", "b-1"), ("svc-s1.1@host-a", "a-2"),
        ("svc-s1.2@host-b", "b-3"), ("svc-s1.1@host-a", "a-4"),
    ]  # fmt: skip
    await socket.disconnect()
    await asyncio.sleep(0)
    assert scripted.open == set() and log_socket.open_sockets == {} and log_socket.extra_streams == 0


@override_settings(LOG_SOCKETS_PER_PROCESS=2)
async def test_its_streams_count_against_the_process_and_it_says_when_it_reads_fewer(scripted: ScriptedLogs) -> None:
    from visualizer.asgi import application

    cookie = await sync_to_async(_cookie)()
    socket = WebsocketCommunicator(application, "/ws/services/s1/logs", headers=[ORIGIN, (b"cookie", cookie.encode())])
    assert (await socket.connect(timeout=5))[0]
    got = await messages(socket, until=3)
    notices = [m["text"] for m in got if m["type"] == "notice"]
    assert notices and "LOG_SOCKETS_PER_PROCESS" in notices[0]
    assert len(scripted.open) == 2 and log_socket.extra_streams == 1  # the socket's own stream, and one more
    await socket.disconnect()
    await asyncio.sleep(0)
    assert scripted.open == set() and log_socket.extra_streams == 0


@override_settings(LOG_SOCKETS_PER_USER=1, LOG_SOCKETS_PER_PROCESS=4)
async def test_one_user_holds_at_most_half_the_processs_streams(scripted: ScriptedLogs) -> None:
    from visualizer.asgi import application

    sockets = []
    for name in ("ann", "bob"):
        cookie = await sync_to_async(_cookie)(name)
        socket = WebsocketCommunicator(
            application, "/ws/services/s1/logs", headers=[ORIGIN, (b"cookie", cookie.encode())]
        )
        assert (await socket.connect(timeout=5))[0]
        got = await messages(socket, until=2)
        notices = [m["text"] for m in got if m["type"] == "notice"]
        # 2 of the 3 tasks each: ann's share is half the process's 4 streams, bob has the other half
        assert notices and ("share" if name == "ann" else "LOG_SOCKETS_PER_PROCESS") in notices[0]
        sockets.append(socket)
    assert log_socket.extra_streams == 2 and sorted(log_socket.extra_by_user.values()) == [1, 1]
    for socket in sockets:
        await socket.disconnect()
    await asyncio.sleep(0)
    assert log_socket.extra_streams == 0 and log_socket.extra_by_user == {} and log_socket.open_sockets == {}


class FiniteLogs:
    """Each task's lines to the end (a download, not followed), counting what was read and left open."""

    def __init__(self, lines: dict[str, list[LogLine]]) -> None:
        self.lines = lines
        self.read = 0
        self.open = 0

    async def task_logs(self, task_id: str, *, follow: bool, tail: int) -> AsyncIterator[LogLine]:
        self.open += 1
        try:
            for line in self.lines[task_id]:
                self.read += 1
                yield line
                await asyncio.sleep(0)
        finally:
            self.open -= 1


async def test_a_services_download_merges_as_it_reads_and_skips_the_empty_ends_of_cut_lines(
    scripted: ScriptedLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import AsyncClient

    def stamp(second: int) -> str:
        return f"2026-11-30T11:00:{second:02d}.000000000Z"

    lines = {
        task_id: [LogLine(stream="stdout", ts=stamp(s), text=f"{task_id}-{s}") for s in range(start, 60, 3)]
        for task_id, start in (("ta", 0), ("tb", 1), ("tc", 2))
    }
    lines["tb"].insert(3, LogLine(stream="stdout", ts="", text="", cut=True))  # a cut line's empty end
    logs = FiniteLogs(lines)
    monkeypatch.setattr(runtime.swarm(), "_logs_client", logs)
    client = AsyncClient()
    await sync_to_async(client.force_login)(await sync_to_async(get_user_model().objects.create_user)("dl"))
    response: Any = await client.get("/services/s1/logs.txt")
    got: list[str] = []
    async with asyncio.timeout(10):
        async for chunk in response.streaming_content:
            got.append(chunk.decode())
            assert logs.read <= len(got) + 3 + 1  # the next line of each task (and the cut end) only
    assert [line.split()[-1] for line in got] == [f"{('ta', 'tb', 'tc')[s % 3]}-{s}" for s in range(60)]
    assert logs.open == 0


async def test_a_process_that_has_no_model_yet_waits_for_its_first_listing(
    scripted: ScriptedLogs, static_model: Any
) -> None:
    from visualizer.asgi import application

    watcher = static_model
    listed = watcher.snapshot
    watcher.snapshot = Snapshot(seq=0, status=Status(state="connecting"))  # a process just started
    cookie = await sync_to_async(_cookie)()
    socket = WebsocketCommunicator(application, "/ws/services/s1/logs", headers=[ORIGIN, (b"cookie", cookie.encode())])
    connecting = asyncio.ensure_future(socket.connect(timeout=5))
    await asyncio.sleep(0.1)
    watcher.snapshot = listed  # its first listing, with the service
    async with watcher._changed:
        watcher._changed.notify_all()
    assert (await connecting)[0]
    got = await messages(socket, until=5)  # not a close with 4404 ("no such service")
    assert sum(len(m.get("lines", [])) for m in got) == 5
    await socket.disconnect()
