"""The pure model: diff/apply round-trips for any snapshots, and the truths Docker leaves out."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.core.domain import Node, Service, Task
from dashboard.core.model import SeqGap, Snapshot, Status, advance, apply, counts, diff
from dashboard.live.wire import patch_json, snapshot_json
from tests.unit.strategies import snapshots


@settings(max_examples=400)
@given(snapshots(), snapshots())
def test_it_turns_any_snapshot_into_any_other_by_its_diff(a: Snapshot, b: Snapshot) -> None:
    assert apply(a, diff(a, b)) == b


@given(snapshots())
def test_it_finds_no_change_between_equal_snapshots(a: Snapshot) -> None:
    same, patch = advance(a, dataclasses.replace(a, seq=a.seq + 7))
    assert patch is None
    assert same is a


@given(snapshots(), snapshots())
def test_it_numbers_each_change_one_past_the_last(a: Snapshot, b: Snapshot) -> None:
    new, patch = advance(a, b)
    if patch is None:
        assert a.same_content(b)
    else:
        assert (patch.base_seq, patch.seq, new.seq) == (a.seq, a.seq + 1, a.seq + 1)
        assert apply(a, patch) == new


def test_it_refuses_a_patch_that_does_not_follow() -> None:
    a = Snapshot(seq=3)
    b = dataclasses.replace(a, seq=4, status=Status(state="live"))
    with pytest.raises(SeqGap):
        apply(dataclasses.replace(a, seq=2), diff(a, b))


def _node(node_id: str, state: str) -> Node:
    return Node(node_id, node_id, "worker", False, "", state, "", "", "active", "", "", 1.0, 0, ())


def _task(task_id: str, node_id: str, state: str, desired: str = "running", service: str = "s") -> Task:
    return Task(task_id, service, 1, node_id, desired, state, "", "", None, "", "img", "", "", "", "")


def _service(service_id: str = "s", replicas: int = 2) -> Service:
    return Service(service_id, "web", "", "img", "replicated", replicas, 9, 9, "", "", (), (), "", "")


def test_it_calls_active_tasks_on_a_down_node_orphaned_and_keeps_final_states() -> None:
    snap = Snapshot.build(
        seq=1,
        status=Status(),
        nodes=[_node("up", "ready"), _node("gone", "down")],
        services=[_service()],
        tasks=[
            _task("a", "up", "running"),
            _task("b", "gone", "running", desired="shutdown"),  # Docker rescheduled it and still says running
            _task("c", "gone", "starting"),
            _task("d", "gone", "failed"),
            _task("e", "gone", "shutdown", desired="shutdown"),
        ],
    )
    states = {t["id"]: t["state"] for t in snapshot_json(snap)["tasks"]}
    assert states == {"a": "running", "b": "orphaned", "c": "orphaned", "d": "failed", "e": "shutdown"}
    assert {t["id"]: t["docker_state"] for t in snapshot_json(snap)["tasks"]}["b"] == "running"


def test_it_counts_only_tasks_really_running_on_live_nodes() -> None:
    snap = Snapshot.build(
        seq=1,
        status=Status(),
        nodes=[_node("up", "ready"), _node("gone", "down")],
        services=[_service(replicas=2)],
        tasks=[_task("a", "up", "running"), _task("b", "gone", "running"), _task("c", "up", "failed")],
    )
    assert counts(snap) == {"s": (1, 2)}
    assert [(s["running"], s["desired"]) for s in snapshot_json(snap)["services"]] == [(1, 2)]


def test_it_reports_the_orphaning_as_a_change_when_only_the_node_went_down() -> None:
    before = Snapshot.build(
        seq=1, status=Status(), nodes=[_node("n", "ready")], services=[_service()], tasks=[_task("a", "n", "running")]
    )
    after = Snapshot.build(
        seq=2, status=Status(), nodes=[_node("n", "down")], services=[_service()], tasks=[_task("a", "n", "running")]
    )
    patch = patch_json(diff(before, after))
    assert [t["state"] for t in patch["tasks"]["upsert"]] == ["orphaned"]
    assert [n["state"] for n in patch["nodes"]["upsert"]] == ["down"]
    assert patch["services"]["upsert"] == []  # counts are derived by whoever holds the tasks


@settings(max_examples=300)
@given(snapshots(), snapshots(), st.data())
def test_it_finds_the_same_patch_when_told_which_tasks_were_touched(
    a: Snapshot, b: Snapshot, data: st.DataObject
) -> None:
    b = dataclasses.replace(b, nodes=a.nodes)  # nodes unchanged: no task changes by derivation alone
    b = Snapshot.build(seq=b.seq, status=b.status, nodes=b.nodes, services=b.services, tasks=b.tasks)
    differing = {k for k in set(a.tasks) | set(b.tasks) if a.tasks.get(k) != b.tasks.get(k)}
    extra = data.draw(st.sets(st.sampled_from([f"t{i}" for i in range(12)])))
    full = diff(a, b)
    hinted = diff(a, b, tasks_touched=differing | extra)
    assert set(hinted.tasks.added) == set(full.tasks.added)
    assert set(hinted.tasks.changed) == set(full.tasks.changed)
    assert set(hinted.tasks.removed) == set(full.tasks.removed)
    assert apply(a, hinted) == apply(a, full)
