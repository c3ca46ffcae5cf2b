"""The problems list is shared per model and per moment: the clock moves it too (an update becomes
stuck, a failure leaves the window) with the model unchanged."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.core.model import Snapshot, Status
from dashboard.pages import live_page, problems
from tests.unit.fakedocker import node, service, task

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def updating_since(started: datetime) -> Snapshot:
    stamp = started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    svc = dataclasses.replace(service("s1"), update_state="updating", updated_at=stamp)
    return Snapshot.build(
        seq=5, status=Status(state="live"), nodes=[node("n1")], services=[svc], tasks=[task("t1", "s1", "n1")]
    )


def test_an_update_becomes_stuck_as_time_passes_at_the_same_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(problems, "_cache", None)
    model = updating_since(T0 - timedelta(minutes=29))  # PROBLEMS_UPDATE_MINUTES is 30
    clock = [T0]
    monkeypatch.setattr(live_page, "now", lambda: clock[0])
    assert [p.kind for p in problems.of(model)] == []
    clock[0] = T0 + timedelta(minutes=2)
    assert [p.kind for p in problems.of(model)] == ["update"]


def test_another_model_at_the_same_seq_has_its_own_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(problems, "_cache", None)
    monkeypatch.setattr(live_page, "now", lambda: T0)
    assert [p.kind for p in problems.of(updating_since(T0 - timedelta(minutes=1)))] == []
    assert [p.kind for p in problems.of(updating_since(T0 - timedelta(minutes=60)))] == ["update"]
