"""Task log downloads: daphne holds whatever a client has not read yet, so one download is cut at
LOG_DOWNLOAD_MAX_BYTES and only so many run at once, per user and per process (429 beyond)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient, override_settings

from dashboard import runtime
from dashboard.core.docker.logs import LogLine
from dashboard.pages import downloads

pytestmark = pytest.mark.django_db(transaction=True)
TASK = "t" * 25


class Docker:
    """A task's log stream: ``lines`` lines of 100 bytes; after ``hold_after`` of them it waits for
    ``go`` (a client that reads slowly, or a long log still coming). Counts the streams still open."""

    def __init__(self, lines: int, hold_after: int | None = None) -> None:
        self.lines, self.hold_after = lines, hold_after
        self.go = asyncio.Event()
        self.holding = asyncio.Event()
        self.open = 0

    async def task_logs(self, task_id: str, *, follow: bool, tail: int, since: int = 0) -> AsyncIterator[LogLine]:
        self.open += 1
        try:
            for n in range(self.lines):
                if n == self.hold_after:
                    self.holding.set()
                    await self.go.wait()
                yield LogLine("stdout", "2026-01-01T00:00:00Z", f"{n:08d}" + "x" * 63)  # 100 bytes with ts/stream
        finally:
            self.open -= 1


@pytest.fixture
def docker(static_model: Any, monkeypatch: pytest.MonkeyPatch) -> Docker:
    fake = Docker(lines=0)
    monkeypatch.setattr(runtime.swarm().client, "task_logs", fake.task_logs)
    return fake


async def signed_in(name: str) -> AsyncClient:
    client = AsyncClient()
    user = await sync_to_async(get_user_model().objects.create_user)(username=name)
    await sync_to_async(client.force_login)(user)
    return client


async def body(response: Any) -> bytes:
    async with asyncio.timeout(10):
        return b"".join([chunk async for chunk in response.streaming_content])


@override_settings(LOG_DOWNLOAD_MAX_BYTES=100_000)
async def test_a_download_is_cut_at_its_byte_cap_and_says_so(docker: Docker) -> None:
    docker.lines = 5000  # 500 kB of log
    client = await signed_in("reader")
    response = await client.get(f"/tasks/{TASK}/logs.txt")
    assert response.status_code == 200
    text = (await body(response)).decode()
    *lines, last = text.splitlines()
    assert len(lines) == 1000 and len(text.encode()) - len(last) - 1 == 100_000
    assert last == "# cut at 100000 bytes after 1000 line(s): LOG_DOWNLOAD_MAX_BYTES is 100000"
    assert docker.open == 0, "the cut download left its Docker stream open"
    assert downloads.in_progress == {}


@override_settings(LOG_DOWNLOADS_PER_USER=2, LOG_DOWNLOADS_PER_PROCESS=3)
async def test_downloads_at_once_are_capped_per_user_and_per_process(docker: Docker) -> None:
    docker.lines, docker.hold_after = 10, 1
    alice, bob, carol = [await signed_in(name) for name in ("alice", "bob", "carol")]
    url = f"/tasks/{TASK}/logs.txt"
    # two of alice's downloads, still coming: one is read by a client that went away mid-download
    first, second = await alice.get(url), await alice.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    refused = await alice.get(url)
    assert refused.status_code == 429 and b"LOG_DOWNLOADS_PER_USER" in refused.content
    third = await bob.get(url)
    assert third.status_code == 200
    full = await carol.get(url)
    assert full.status_code == 429 and b"on this server (LOG_DOWNLOADS_PER_PROCESS)" in full.content

    # alice's client goes away mid-download: daphne cancels the task sending the body
    reading = asyncio.ensure_future(body(first))
    async with asyncio.timeout(10):
        await docker.holding.wait()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert downloads.in_progress == {"alice": 1, "bob": 1}
    # a download whose body never started (the client gone before it) is given back with its response
    del second
    gc.collect()
    assert downloads.in_progress == {"bob": 1}
    # bob's is read to the end
    docker.go.set()
    assert (await body(third)).count(b"\n") == 10
    assert downloads.in_progress == {}
    assert (await carol.get(url)).status_code == 200
