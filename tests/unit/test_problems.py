"""dashboard.core.problems: each kind of problem from a model, and their order (newest first)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from dashboard.core.domain import Node, Service, Task, docker_time
from dashboard.core.model import Snapshot, Status
from dashboard.core.problems import Problem, find
from tests.unit.fakedocker import node, service, task

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def model(nodes: list[Node], services: list[Service], tasks: list[Task]) -> Snapshot:
    return Snapshot.build(seq=1, status=Status(state="live"), nodes=nodes, services=services, tasks=tasks)


def problems(snapshot: Snapshot) -> list[Problem]:
    return find(snapshot, now=NOW, window=WINDOW, failures=3, update_stuck=timedelta(minutes=30))


def kinds(snapshot: Snapshot) -> list[tuple[str, str]]:
    return [(p.kind, p.target_id) for p in problems(snapshot)]


def failed(task_id: str, minutes_ago: float, *, slot: int = 1, exit_code: int = 1, error: str = "") -> Task:
    t = task(task_id, "s1", "n1", slot=slot, state="failed", desired="shutdown")
    return dataclasses.replace(
        t, status_at=at(minutes_ago), exit_code=exit_code, error=error or f"task: non-zero exit ({exit_code})"
    )


def test_it_finds_nothing_in_a_healthy_swarm() -> None:
    snapshot = model([node("n1")], [service("s1", replicas=1)], [task("t1", "s1", "n1")])
    assert problems(snapshot) == []


def test_it_finds_a_service_below_its_desired_count() -> None:
    snapshot = model([node("n1")], [service("s1", replicas=3)], [task("t1", "s1", "n1")])
    [p] = problems(snapshot)
    assert (p.kind, p.target, p.target_id, p.title, p.detail) == (
        "short",
        "service",
        "s1",
        "svc-s1",
        "1 of 3 tasks running",
    )


def test_it_finds_a_slot_failing_again_and_again_with_the_last_error_and_exit_code() -> None:
    tasks = [failed("f1", 9), failed("f2", 6), failed("f3", 2, exit_code=137, error="task: non-zero exit (137)")]
    tasks.append(task("t4", "s1", "n1"))
    [p] = problems(model([node("n1")], [service("s1")], tasks))
    assert (p.kind, p.target, p.target_id, p.title) == ("failing", "task", "f3", "svc-s1.1")
    assert p.detail == "failed 3 times in 15 min; last: task: non-zero exit (137) (exit code 137)"


def test_failures_older_than_the_window_or_on_other_slots_do_not_count() -> None:
    tasks = [failed("f1", 20), failed("f2", 6), failed("f3", 2), failed("g1", 1, slot=2), task("t4", "s1", "n1")]
    assert problems(model([node("n1")], [service("s1")], tasks)) == []


def test_it_finds_a_pending_task_with_the_schedulers_reason() -> None:
    reason = "no suitable node (scheduling constraints not satisfied on 1 node)"
    pending = dataclasses.replace(task("t1", "s1", ""), state="pending", error=reason, status_at=at(1))
    [p, short] = sorted(problems(model([node("n1")], [service("s1")], [pending])), key=lambda p: p.kind)
    assert short.kind == "short"
    assert (p.kind, p.target_id, p.detail) == ("pending", "t1", f"pending: {reason}")


def test_it_finds_a_task_orphaned_on_a_down_node_and_the_node() -> None:
    tasks = [task("t1", "s1", "n2"), task("t2", "s1", "n1")]
    snapshot = model([node("n1"), node("n2", state="down")], [service("s1", replicas=2)], tasks)
    found = {(p.kind, p.target_id) for p in problems(snapshot)}
    assert found == {("node-down", "n2"), ("orphaned", "t1"), ("short", "s1")}
    [orphan] = [p for p in problems(snapshot) if p.kind == "orphaned"]
    assert "host-n2" in orphan.detail and orphan.node_id == "n2"


def test_it_finds_a_drained_node() -> None:
    snapshot = model([node("n1"), node("n2", availability="drain")], [], [])
    assert kinds(snapshot) == [("node-drained", "n2")]


def test_it_finds_rolled_back_paused_and_stuck_updates_but_not_a_young_one() -> None:
    services = [
        dataclasses.replace(service("a", replicas=0), update_state="rollback_completed", updated_at=at(3),
                            update_message="update rolled back due to failure or early termination of task t9"),
        dataclasses.replace(service("b", replicas=0), update_state="paused", updated_at=at(4)),
        dataclasses.replace(service("c", replicas=0), update_state="updating", updated_at=at(45)),
        dataclasses.replace(service("d", replicas=0), update_state="updating", updated_at=at(5)),
        dataclasses.replace(service("e", replicas=0), update_state="completed", updated_at=at(1)),
    ]  # fmt: skip
    found = problems(model([], services, []))
    assert [(p.kind, p.target_id) for p in found] == [("update", "a"), ("update", "b"), ("update", "c")]
    assert found[0].detail.startswith("update rollback completed: update rolled back")
    assert found[2].detail == "still updating after 45 min"


def test_newest_first_with_nodes_before_anything_dated() -> None:
    reason = "no suitable node"
    tasks = [
        dataclasses.replace(task("p-old", "s1", ""), state="pending", error=reason, status_at=at(10), slot=2),
        dataclasses.replace(task("p-new", "s1", ""), state="pending", error=reason, status_at=at(1), slot=3),
        failed("f1", 8), failed("f2", 6), failed("f3", 5),
    ]  # fmt: skip
    snapshot = model([node("n1", state="down")], [dataclasses.replace(service("s1", replicas=0))], tasks)
    assert kinds(snapshot) == [("node-down", "n1"), ("pending", "p-new"), ("failing", "f3"), ("pending", "p-old")]


def test_a_global_services_failing_tasks_are_counted_per_node() -> None:
    def on(task_id: str, node_id: str, minutes_ago: float) -> Task:
        t = dataclasses.replace(failed(task_id, minutes_ago), slot=None, node_id=node_id)
        return t

    g = dataclasses.replace(service("s1"), mode="global", replicas=None)
    tasks = [on("a1", "n1", 3), on("a2", "n1", 2), on("b1", "n2", 3), on("b2", "n2", 2), on("a3", "n1", 1)]
    found = problems(model([node("n1"), node("n2")], [g], tasks))
    assert [(p.kind, p.title) for p in found] == [("failing", "svc-s1 on host-n1")]


def test_docker_time_reads_nanoseconds_and_refuses_junk() -> None:
    assert docker_time("2026-11-30T11:59:00.123456789Z") == datetime(2026, 11, 30, 11, 59, 0, 123456, tzinfo=UTC)
    assert docker_time("") is None
    assert docker_time("yesterday") is None
