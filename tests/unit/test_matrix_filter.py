"""The services matrix reads ?q= as the grid does (tests/js/filter_cases.json): its rows are the
services of the tasks the grid matches, whatever the terms' quotes, globs and negations."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard.core import matrix
from dashboard.core.domain import Node, Service, Task
from dashboard.core.model import Snapshot, Status
from dashboard.pages import matrix_filter, query
from tests.unit.fakedocker import node, service, task

CASES = json.loads((Path(__file__).resolve().parents[1] / "js" / "filter_cases.json").read_text())
# free text that only a task holds (its id or error), and state: (a cell counts every state)
TASK_TEXT = {"suitable", "t3", "non-zero exit"}


def _model() -> Snapshot:
    images = {t["service_id"]: t["image"].split("@")[0] for t in CASES["tasks"]}
    services: list[Service] = [
        dataclasses.replace(service(s["id"]), name=s["name"], stack=s["stack"], labels=tuple(s["labels"].items()),
                            image=images[s["id"]])
        for s in CASES["services"]
    ]  # fmt: skip
    nodes: list[Node] = [
        dataclasses.replace(node(n["id"]), hostname=n["hostname"], labels=tuple(n["labels"].items()))
        for n in CASES["nodes"]
    ]
    tasks: list[Task] = [
        dataclasses.replace(task(t["id"], t["service_id"], t["node_id"], state=t["state"]), image=t["image"])
        for t in CASES["tasks"]
        if t["state"] != "orphaned"
    ]
    orphan = next(t for t in CASES["tasks"] if t["state"] == "orphaned")
    tasks.append(dataclasses.replace(task(orphan["id"], orphan["service_id"], orphan["node_id"]), orphaned=True))
    return Snapshot.build(seq=1, status=Status(state="live"), nodes=nodes, services=services, tasks=tasks)


def _grid_only(q: str) -> bool:
    return any(t.key == "state" or (t.key == "" and t.value in TASK_TEXT) for t in query.parse(q))


@pytest.mark.parametrize(("q", "want"), [c for c in CASES["match"] if not _grid_only(c[0])])
def test_its_rows_are_the_services_of_the_tasks_the_grid_matches(q: str, want: list[str]) -> None:
    model = _model()
    built = matrix.build(model, now=datetime(2026, 11, 30, tzinfo=UTC), window=timedelta(minutes=15))
    rows = {r.service.id for s in matrix_filter.narrow(built, q).stacks for r in s.rows}
    assert rows == {model.tasks[t].service_id for t in want}
