"""Unit-tier fixtures: the pages and the socket over a fixed model, no Docker behind it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard import runtime
from dashboard.core.docker import Endpoint
from dashboard.core.model import Snapshot, Status
from dashboard.core.registry import Swarm, SwarmConfig
from dashboard.core.watch import Watcher, WatchSettings


class StaticSwarm(Swarm):
    """A swarm whose watcher never runs: its model is whatever the test puts there."""

    def start(self) -> Watcher:
        assert isinstance(self.watcher, Watcher)
        return self.watcher

    @property
    def running(self) -> bool:
        return True


@pytest.fixture
def static_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watcher]:
    """runtime's swarm, replaced by one whose watcher never runs and holds an empty, live model."""
    swarm = StaticSwarm(
        SwarmConfig(name="default", endpoint=Endpoint(host="unix:///nonexistent"), watch=WatchSettings())
    )
    watcher = swarm.start()
    watcher.snapshot = Snapshot(seq=1, status=Status(state="live", since="2026-01-01T00:00:00Z"))
    monkeypatch.setattr(runtime, "swarm", lambda name=None: swarm)
    yield watcher
