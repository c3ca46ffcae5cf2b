"""An agent's event costs the managers one re-list of its service; only the exit of a container of
a task the model has running on that agent's node is followed closely until the managers know it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dashboard.core.watch.agent_side import WORDS_MARGIN
from tests.unit.test_agent_hub import CONTAINER, DIED, HELLO, _msg, agent_on_n2, two_nodes

FOLLOW = 3.5  # seconds: longer than the watcher awaits a manager's word (agent_side.AWAIT_FOR)


async def relists_after(message: dict[str, Any]) -> int:
    """/tasks listings in the FOLLOW seconds after the agent of n2 said ``message`` (Docker keeps
    every task running: the managers never confirm the end)."""
    docker = two_nodes()
    async with agent_on_n2(docker) as watcher:
        await asyncio.sleep(1)
        before = len(docker.calls_of("tasks"))
        watcher.agent_said("n2", "a", _msg(message))
        await asyncio.sleep(FOLLOW)
        return len(docker.calls_of("tasks")) - before


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
@pytest.mark.parametrize(
    "why, message",
    [
        ("a task the model has none of (perhaps not told of yet)", DIED | {"task_id": "nosuchtask"}),
        ("a task of another node", DIED | {"task_id": "t1"}),
        ("a task of another service than the agent says (none: no hint)", DIED | {"task_id": "t2", "service_id": "s9"}),
        ("a signal, which need not end it", DIED | {"task_id": "t2", "action": "kill"}),
        ("an OOM kill, which may be a child process's", DIED | {"task_id": "t2", "action": "oom"}),
    ],
)
async def test_an_event_that_cannot_end_a_task_of_this_node_relists_at_most_once(
    why: str, message: dict[str, Any]
) -> None:
    assert await relists_after(message) <= 1, why


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_the_exit_of_a_task_running_on_the_agents_node_is_followed_until_it_is_awaited_no_longer() -> None:
    relists = await relists_after(DIED | {"task_id": "t2"})
    assert 10 < relists <= 35  # every refresher.AWAIT_INTERVAL for agent_side.AWAIT_FOR seconds, then no more


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_an_agent_of_a_node_the_swarm_does_not_have_is_not_heard() -> None:
    docker = two_nodes()
    async with agent_on_n2(docker) as watcher:
        watcher.agent_said("n9", "x", _msg(HELLO | {"node_id": "n9"}))
        watcher.agent_said("n9", "x", _msg(DIED | {"task_id": "t2"}))
        assert watcher.agents.live() == {"n2"}


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_an_agent_speaks_of_no_more_containers_than_its_node_has_tasks_and_a_margin() -> None:
    docker = two_nodes()
    async with agent_on_n2(docker) as watcher:
        many = [CONTAINER | {"task_id": f"x{n}", "service_id": "s1"} for n in range(1000)]
        watcher.agent_said("n2", "a", _msg({"type": "inventory", "tasks": many}))
        for n in range(1000, 1100):
            watcher.agent_said("n2", "a", _msg(DIED | {"task_id": f"x{n}", "action": "start"}))
        words = watcher.agents.agents["n2"].tasks
        assert len(words) == 1 + WORDS_MARGIN and "x1099" in words  # n2 has one task: t2
