"""The packed model's tasks by column: the same tasks back, smaller than as rows."""

from __future__ import annotations

import json
import random
import zlib

from dashboard.live.frames import task_columns


def _task(i: int, rng: random.Random) -> dict[str, object]:
    return {
        "id": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(25)),
        "service_id": f"service{i % 40:020d}",
        "slot": i % 50 or None,
        "state": rng.choice(["running", "running", "running", "failed", "pending"]),
        "exit_code": rng.choice([None, 0, 137]),
        "created_at": f"2026-11-01T17:{i % 60:02d}:15.{rng.randrange(10**9):09d}Z",
        "orphaned": i % 97 == 0,
        "message": '<img src=x onerror=alert(1)> \u2028 "quoted"',
    }


def test_it_gives_every_task_back_as_it_was() -> None:
    rng = random.Random(7)
    tasks = [_task(i, rng) for i in range(2500)]  # more than one chunk of json.loads
    by_column = task_columns([json.dumps(t) for t in tasks])
    assert by_column is not None
    fields, columns = by_column
    assert [dict(zip(fields, values, strict=True)) for values in zip(*columns, strict=True)] == tasks


def test_it_packs_smaller_than_rows() -> None:
    rng = random.Random(8)
    texts = [json.dumps(_task(i, rng), separators=(",", ":")) for i in range(5000)]
    by_column = task_columns(texts)
    assert by_column is not None
    rows = zlib.compress(f"[{','.join(texts)}]".encode(), 6)
    columns = zlib.compress(json.dumps(list(by_column)).encode(), 6)
    assert len(columns) < 0.9 * len(rows)


def test_it_leaves_tasks_of_different_shapes_as_rows() -> None:
    assert task_columns(['{"id":"a","state":"running"}', '{"id":"b"}']) is None
    assert task_columns(['{"id":"a","state":"running"}', '{"id":"b","slot":1}']) is None


def test_no_tasks_are_no_columns() -> None:
    assert task_columns([]) == ([], [])
