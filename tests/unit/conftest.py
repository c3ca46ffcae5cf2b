"""Unit-tier fixtures: the pages and the socket over a fixed model, no Docker behind it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard import runtime
from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.model import Snapshot, Status
from dashboard.core.watch import Watcher


@pytest.fixture
def static_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watcher]:
    """runtime's watcher, replaced by one that never runs and holds an empty, live model."""
    watcher = Watcher(lambda: DockerClient(Endpoint(host="unix:///nonexistent")))
    watcher.snapshot = Snapshot(seq=1, status=Status(state="live", since="2026-01-01T00:00:00Z"))

    async def first_sync(timeout: float) -> Watcher:
        return watcher

    monkeypatch.setattr(runtime, "first_sync", first_sync)
    monkeypatch.setattr(runtime, "watcher", lambda: watcher)
    yield watcher
