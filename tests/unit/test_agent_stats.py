"""The agent's CPU and memory figures, from samples recorded on the lab (Docker 20.10, cgroup v1, a
container spinning one of two cores, limited to 32 MiB), counted as `docker stats` counts them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboard.agent.messages import MAX_MESSAGE_BYTES, Stats, TaskUsage
from dashboard.agent.stats import NodeTotals, Sampler, cpu_cores, cpu_counters, memory_limit, memory_used, split_stats
from dashboard.agent.wire import size

RECORDED: dict[str, Any] = json.loads(Path(__file__).with_name("agent_recorded.json").read_text())
NODE = NodeTotals(cpus=2.0, memory=RECORDED["memtotal"])
IDS = ("gy648yl9n86ngun6harrdvj57", "c" * 64)


def test_it_counts_cpu_in_cores_between_two_one_shot_samples() -> None:
    one, two = cpu_counters(RECORDED["one"]["cpu_stats"]), cpu_counters(RECORDED["two"]["cpu_stats"])
    assert one is not None and two is not None
    # docker stats would say 88.70% for this pair: 0.887 of one core
    assert cpu_cores(two, one) == 0.887
    # a one-shot sample has no previous counters of its own
    assert cpu_counters(RECORDED["one"]["precpu_stats"]) is None


def test_it_uses_the_daemons_previous_sample_when_there_is_one() -> None:
    full = RECORDED["full"]
    now, before = cpu_counters(full["cpu_stats"]), cpu_counters(full["precpu_stats"])
    assert now is not None and before is not None
    assert cpu_cores(now, before) == 0.8452


def test_a_restarted_containers_counters_give_zero_not_a_negative() -> None:
    one, two = cpu_counters(RECORDED["one"]["cpu_stats"]), cpu_counters(RECORDED["two"]["cpu_stats"])
    assert one is not None and two is not None
    assert cpu_cores(one, two) == 0.0


def test_memory_is_usage_without_the_inactive_page_cache() -> None:
    assert memory_used(RECORDED["two"]["memory_stats"]) == 638976  # cgroup v1: total_inactive_file is 0 here
    v1 = {"usage": 100_000_000, "stats": {"total_inactive_file": 60_000_000, "inactive_file": 1}}
    assert memory_used(v1) == 40_000_000
    v2 = {"usage": 100_000_000, "stats": {"inactive_file": 30_000_000, "file": 50_000_000}}
    assert memory_used(v2) == 70_000_000
    # a cache figure above the usage (a racy read) is not subtracted
    assert memory_used({"usage": 10, "stats": {"inactive_file": 20}}) == 10
    assert memory_used(None) == 0


def test_the_limit_is_zero_when_the_container_has_none_of_its_own() -> None:
    assert memory_limit(RECORDED["two"]["memory_stats"], NODE.memory) == 32 * 1024 * 1024
    assert memory_limit({"limit": NODE.memory}, NODE.memory) == 0  # the daemon says the node's memory
    assert memory_limit({"limit": 9223372036854771712}, NODE.memory) == 0  # cgroup v1 without a limit
    assert memory_limit({}, NODE.memory) == 0


def test_a_containers_first_sample_waits_for_its_second_and_a_slow_round_is_no_restart() -> None:
    sampler = Sampler(NODE)
    first = sampler.stats({IDS: RECORDED["one"]}, at=1.0)
    assert first["tasks"] == [] and first["node"]["cpus"] == 2.0
    second = sampler.stats({IDS: RECORDED["two"]}, at=2.0)
    assert second == {
        "type": "stats",
        "at": 2.0,
        "node": {"cpus": 2.0, "cpu": 0.887, "memory": 638976, "memory_total": NODE.memory},
        "tasks": [{"task_id": IDS[0], "cpu": 0.887, "memory": 638976, "memory_limit": 32 * 1024 * 1024}],
    }
    # a running container too slow for a round keeps its counters; a stopped one is forgotten
    sampler.stats({}, running={IDS[1]}, at=3.0)
    assert sampler.stats({IDS: RECORDED["two"]}, at=4.0)["tasks"][0]["cpu"] == 0.0  # no CPU since: same counters
    sampler.stats({}, running=set(), at=5.0)
    assert sampler.stats({IDS: RECORDED["two"]}, at=6.0)["tasks"] == []


def test_a_sample_for_a_thousand_containers_is_split_under_the_message_limit() -> None:
    usage = TaskUsage(task_id="t" * 25, cpu=0.1234, memory=123456789, memory_limit=987654321)
    node = Sampler(NODE).stats({})["node"]
    stats = Stats(type="stats", at=1.0, node=node, tasks=[usage] * 5000)
    parts = list(split_stats(stats))
    assert len(parts) > 1 and all(size(p) <= MAX_MESSAGE_BYTES for p in parts)
    assert sum(len(p["tasks"]) for p in parts) == 5000 and all(p["node"] == node for p in parts)
    assert list(split_stats(Stats(type="stats", at=1.0, node=node, tasks=[usage]))) == [
        Stats(type="stats", at=1.0, node=node, tasks=[usage])
    ]
