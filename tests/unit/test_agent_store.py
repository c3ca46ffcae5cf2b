"""What the dashboard keeps of the agents' word, pure: split samples add up, outputs a failed write
drained come back, and a drained node is not one an agent must cover."""

from __future__ import annotations

from typing import Any

from dashboard.agent.stats import split_stats
from dashboard.agent.wire import encode
from dashboard.core.agents import parse_message
from dashboard.core.agents_store import AgentKnowledge, reconcile_period
from tests.unit.fakedocker import node, task
from tests.unit.test_agent_hub import CONTAINER, EVENT, HELLO, _msg


def _stats(at: float, count: int, cpu: float = 0.1234) -> dict[str, Any]:
    # the reviewer's shape: 3,500 containers do not fit one message
    rows = [{"task_id": f"{i:025d}x", "cpu": cpu, "memory": 123456789, "memory_limit": 268435456} for i in range(count)]
    return {"type": "stats", "at": at, "node": {"cpus": 8.0, "cpu": 1.0, "memory": 1, "memory_total": 2}, "tasks": rows}


def test_a_sample_split_in_parts_is_kept_whole_and_a_newer_sample_replaces_it() -> None:
    store = AgentKnowledge(ttl=15)
    store.said("n1", "a", _msg(HELLO), 0)
    parts = list(split_stats(_stats(1.0, 3500)))  # type: ignore[arg-type]
    assert len(parts) > 1
    for part in parts:
        store.said("n1", "a", parse_message(encode(part)), 1)
    assert len(store.agents["n1"].usage) == 3500
    store.said("n1", "a", parse_message(encode(_stats(6.0, 10, cpu=0.5))), 6)
    usage = store.agents["n1"].usage
    assert len(usage) == 10 and all(cpu == 0.5 for cpu, _, _ in usage.values())


def test_outputs_a_failed_write_drained_come_back_and_a_newer_one_stays() -> None:
    store = AgentKnowledge(ttl=15)
    store.track_outputs = True
    store.said("n1", "a", _msg(HELLO), 0)
    store.said("n1", "a", _msg(EVENT | {"output": "disk full"}), 1)
    store.said("n1", "a", _msg(EVENT | {"task_id": "t2", "output": "no route"}), 1)
    drained = store.drain_outputs()
    # while the write fails, t1's check says something newer
    store.said("n1", "a", _msg(EVENT | {"output": "disk fuller"}), 2)
    store.restore_outputs(drained)
    assert store.drain_outputs() == {
        "t1": ("n1", "unhealthy", "disk fuller"),
        "t2": ("n1", "unhealthy", "no route"),
    }
    assert store.drain_outputs() == {}


def test_a_drained_node_runs_no_agent_and_does_not_keep_the_reconcile_from_relaxing() -> None:
    nodes = [node("n1"), node("n2"), node("n3", availability="drain"), node("n4", availability="pause")]
    assert reconcile_period(8, nodes, {"n1", "n2", "n4"}) == 32
    assert reconcile_period(8, nodes, {"n1", "n2"}) == 8  # a paused node keeps its tasks, its agent too


def test_a_publish_rebuilds_only_the_tasks_whose_docker_task_or_agents_word_changed() -> None:
    store = AgentKnowledge(ttl=15)
    tasks = {"t1": task("t1", "s1", "n1"), "t2": task("t2", "s1", "n1")}
    store.said("n1", "a", _msg(HELLO), 0)
    store.said("n1", "a", _msg({"type": "inventory", "tasks": [CONTAINER, CONTAINER | {"task_id": "t2"}]}), 1)
    _, first, _ = store.fold({}, tasks)
    _, again, touched = store.fold({}, tasks)
    assert again["t1"] is first["t1"] and again["t2"] is first["t2"] and touched == set()
    store.said("n1", "a", _msg(EVENT), 2)  # t1's word changed: unhealthy
    tasks["t2"] = task("t2", "s1", "n1", state="failed")  # Docker's t2 changed
    _, third, touched = store.fold({}, tasks)
    assert third["t1"].health == "unhealthy" and third["t2"].state == "failed" and touched == {"t1"}
    assert third["t1"] is not first["t1"] and third["t2"] is not first["t2"]
