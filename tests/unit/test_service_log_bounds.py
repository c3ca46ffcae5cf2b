"""A service's log socket and a page on a slow link: what the server holds for it stays bounded (lines
and bytes), one flush sends a bounded batch, and the page is told how many lines were skipped.
On a fast-forwarded clock (looptime): a minute of a chatty task in no time."""

from __future__ import annotations

import asyncio
import dataclasses
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dashboard import runtime
from dashboard.core.docker.logs import LogLine
from dashboard.core.model import Snapshot, Status
from dashboard.live import service_logs
from tests.unit.fakedocker import node, service, task

pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]


class Chatty:
    """A task printing ~1 MB/s in 1 KB lines: below both of the socket's rate caps."""

    async def task_logs(self, task_id: str, *, follow: bool, tail: int) -> AsyncIterator[LogLine]:
        for n in range(1_000_000):
            yield LogLine(
                stream="stdout",
                ts=f"2026-11-30T11:{n // 60_000 % 60:02d}:{n // 1000 % 60:02d}.{n:09d}Z",
                text="x" * 1000,
            )
            if n % 50 == 49:
                await asyncio.sleep(0.05)


class SlowPage:
    """A page on a 100 KB/s link: each frame takes its time to leave."""

    def __init__(self) -> None:
        self.client = Chatty()
        self._flow = None
        self._counted = 1  # the user its extra streams count against
        self.skipped = 0

    async def send(self, text_data: str = "", **_: Any) -> None:
        await asyncio.sleep(len(text_data) / 100_000)

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "skipped":
            self.skipped += message["count"]


async def test_a_slow_page_makes_the_server_hold_no_more_than_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [dataclasses.replace(task("ta", "s1", "a"), container_id="c1", created_at="2026-11-30T10:00:00Z")]
    model = Snapshot.build(seq=1, status=Status(state="live"), nodes=[node("a")], services=[service("s1")], tasks=tasks)
    monkeypatch.setattr(runtime, "swarm", lambda: types.SimpleNamespace(watcher=types.SimpleNamespace(snapshot=model)))
    page = SlowPage()
    merger = service_logs._Merger(page, "s1")  # type: ignore[arg-type]
    batches: list[int] = []
    flush = merger._flush

    async def counted(lines: list[list[Any]]) -> None:
        batches.append(len(lines))
        await flush(lines)

    monkeypatch.setattr(merger, "_flush", counted)
    run = asyncio.create_task(merger.run())
    most_held = most_bytes = 0
    for _ in range(600):  # a minute, looked at every 0.1 s
        await asyncio.sleep(0.1)
        most_held, most_bytes = max(most_held, len(merger.heap)), max(most_bytes, merger.heap.held_bytes)
    run.cancel()
    await merger.stop()
    assert most_held <= service_logs.MAX_HELD_LINES
    assert most_bytes <= service_logs.MAX_HELD_BYTES + 2000
    assert max(batches) <= service_logs.FLUSH_LINES
    assert page.skipped > 10_000  # a minute of 1,000 lines a second, of which the page could take ~6,000
