"""What the agent makes of its daemon's JSON: inventory entries and events for swarm task containers
only, health output tailed, every message within the protocol's size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboard.agent.containers import EVENT_FILTERS, event_message, fit_inventory, listed, task_container
from dashboard.agent.messages import MAX_MESSAGE_BYTES, TaskContainer
from dashboard.agent.wire import size
from dashboard.core.docker import parse_event

RECORDED: dict[str, Any] = json.loads(Path(__file__).with_name("agent_recorded.json").read_text())
LABELS: dict[str, str] = RECORDED["labels"]
TASK, SERVICE = LABELS["com.docker.swarm.task.id"], LABELS["com.docker.swarm.service.id"]
CONTAINER = "a" * 64


def inspect(state: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"Id": CONTAINER, "State": state, "Config": {"Labels": LABELS if labels is None else labels}}


def docker_event(action: str, **attrs: str) -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": CONTAINER, "Attributes": {**LABELS, "name": "web.1.x", **attrs}},
        "time": 1795998123,
        "timeNano": 1795998123789242790,
    }


def test_it_lists_a_healthy_running_task_container_with_its_last_checks_output() -> None:
    assert task_container(inspect(RECORDED["state"])) == TaskContainer(
        task_id=TASK,
        service_id=SERVICE,
        container_id=CONTAINER,
        running=True,
        health="healthy",
        output="ok-check\n",
        oom_killed=False,
        exit_code=None,
    )


def test_an_oom_killed_container_says_so_with_its_exit_code() -> None:
    state = {"Running": False, "OOMKilled": True, "ExitCode": 137}
    entry = task_container(inspect(state))
    assert entry is not None and (entry["running"], entry["oom_killed"], entry["exit_code"]) == (False, True, 137)
    assert (entry["health"], entry["output"]) == ("", "")


def test_containers_that_are_not_swarm_tasks_are_none_of_the_dashboards_business() -> None:
    assert task_container(inspect(RECORDED["state"], labels={"maintainer": "me"})) is None
    # a label value that could not be a task id (it would go into a URL) is refused too
    assert task_container(inspect(RECORDED["state"], labels={**LABELS, "com.docker.swarm.task.id": "../x"})) is None
    assert listed({"Id": CONTAINER, "Labels": LABELS}) == (TASK, CONTAINER)
    assert listed({"Id": CONTAINER, "Labels": {}}) is None
    assert event_message(parse_event({**docker_event("die", exitCode="1"), "Actor": {"ID": CONTAINER}})) is None
    assert EVENT_FILTERS["label"] == ["com.docker.swarm.task.id"] and "health_status" in EVENT_FILTERS["event"]


def test_die_carries_the_exit_code_and_health_status_the_new_status_and_output() -> None:
    died = event_message(parse_event(docker_event("die", exitCode="137")))
    assert died is not None
    assert (died["action"], died["task_id"], died["service_id"], died["exit_code"]) == ("die", TASK, SERVICE, 137)
    assert died["time_nano"] == 1795998123789242790 and died["container_id"] == CONTAINER
    sick = event_message(parse_event(docker_event("health_status: unhealthy")), output="x" * 5000 + "\ndisk full")
    assert sick is not None and (sick["action"], sick["health"]) == ("health_status", "unhealthy")
    assert sick["output"] == "…\ndisk full"  # cut at a line boundary (test_agent_output)
    oom = event_message(parse_event(docker_event("oom")))
    assert oom is not None and (oom["action"], oom["exit_code"], oom["output"]) == ("oom", None, "")


def test_other_actions_and_unknown_health_states_are_not_reported() -> None:
    for action in ("exec_start: sh -c true", "create", "health_status: bogus", "health_status", "attach"):
        assert event_message(parse_event(docker_event(action))) is None, action
    assert event_message(parse_event({**docker_event("die"), "Type": "network"})) is None


def test_an_inventory_too_large_for_one_message_keeps_running_tasks_and_shorter_outputs() -> None:
    def entry(n: int, running: bool) -> TaskContainer:
        return TaskContainer(task_id=f"{n:025d}", service_id=SERVICE, container_id=f"{n:064d}", running=running,
                             health="unhealthy", output="<script>" + "y" * 3000, oom_killed=False,
                             exit_code=None if running else 1)  # fmt: skip

    small = [entry(n, True) for n in range(3)]
    assert fit_inventory(small) == small
    crowded = [entry(n, n % 2 == 0) for n in range(400)]  # 400 x 3 KB of output
    fitted = fit_inventory(crowded)
    assert len(fitted) == 400 and size({"type": "inventory", "tasks": fitted}) <= MAX_MESSAGE_BYTES
    assert all(0 < len(t["output"]) < 3000 for t in fitted)
    huge = [entry(n, n % 2 == 0) for n in range(3000)]
    kept = fit_inventory(huge)
    assert size({"type": "inventory", "tasks": kept}) <= MAX_MESSAGE_BYTES
    assert 0 < len(kept) < 3000 and all(t["running"] for t in kept) and all(t["output"] == "" for t in kept)
