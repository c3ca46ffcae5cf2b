"""What node agents add to the grid's first paint (dashboard.pages.render): health marks, "OOM
killed", the agent mark, a box version that moves with them; and services' reservations."""

from __future__ import annotations

import dataclasses
import re

from dashboard.core.domain import Node, Task, parse_service
from dashboard.pages import render


def task(**kw: object) -> Task:
    base = Task("t1", "s1", 1, "n1", "running", "running", "", "", None, "c1", "web:1", "", "2026-01-01", "", "")
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def node(**kw: object) -> Node:
    base = Node("n1", "w1", "worker", False, "", "ready", "", "", "active", "27.0", "linux/x86_64", 2, 2**30, ())
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_it_marks_a_box_with_its_health_readable_without_colour() -> None:
    for health, mark in (("healthy", "♥"), ("unhealthy", "⚠"), ("starting", "◔")):
        html = render.task_box(task(health=health), None)
        assert f'class="hm hm-{health}" role="img" aria-label="health: {health}"' in html
        assert f">{mark}</span>" in html
    assert 'class="hm' not in render.task_box(task(health=""), None)
    # a junk word from an agent is no mark (and never markup)
    assert 'class="hm' not in render.task_box(task(health="<b>x</b>"), None)


def test_it_says_oom_killed_where_a_failed_task_says_its_error() -> None:
    failed = task(state="failed", desired_state="shutdown", error="task: non-zero exit (137)", exit_code=137)
    html = render.task_box(dataclasses.replace(failed, oom_killed=True), None)
    assert "· OOM killed" in html and 'class="err" title="OOM killed"' in html
    assert "OOM" not in render.task_box(failed, None)
    # a running container whose child the kernel killed is not called killed
    assert "OOM" not in render.task_box(task(oom_killed=True), None)


def test_its_box_version_moves_with_health_and_oom() -> None:
    def version(t: Task) -> str:
        found = re.search(r'data-v="([^"]*)"', render.task_box(t, None))
        assert found
        return found.group(1)

    versions = {version(task()), version(task(health="unhealthy")), version(task(oom_killed=True))}
    assert len(versions) == 3


def test_it_marks_a_node_with_a_live_agent() -> None:
    assert 'class="badge agent"' in render.node_header(node(agent=True))
    assert 'class="badge agent"' not in render.node_header(node())


def test_a_service_carries_what_its_tasks_reserve() -> None:
    def service(resources: dict[str, object] | None) -> tuple[float, int]:
        template: dict[str, object] = {"ContainerSpec": {"Image": "web:1"}}
        if resources is not None:
            template["Resources"] = resources
        return parse_service({"ID": "s1", "Spec": {"Name": "web", "TaskTemplate": template}}).reservations

    assert service({"Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 64 * 2**20}}) == (0.25, 64 * 2**20)
    assert service({"Reservations": {"NanoCPUs": "lots", "MemoryBytes": -1}}) == (0.0, 0)
    assert service(None) == (0.0, 0)
