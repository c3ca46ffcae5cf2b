"""Agents send an inventory only after hello: a watcher that hears of an agent without it (a new
leader's term, an agent back after its ttl) asks that agent for a fresh one, once, and the agent
answers with it - so health and OOM marks are not lost until the agent happens to reconnect."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from dashboard.agent.link import Link
from tests.integration.test_watcher import watching_with
from tests.unit.fakedocker import factory
from tests.unit.test_agent_hub import CONTAINER, EVENT, HELLO, PRODUCTION, STATS, _msg, two_nodes
from tests.unit.test_agent_loops import FakeDaemon, FakeLink, _set, known_agent, sent_until

pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]


async def test_a_watcher_asks_an_agent_it_hears_of_without_hello_for_an_inventory_once() -> None:
    asked: list[str] = []

    async def ask(conn: str) -> None:
        asked.append(conn)

    async with watching_with(factory(two_nodes()), PRODUCTION) as watcher:
        watcher.subscribe_resend(ask)
        watcher.agent_said("n2", "b", _msg(HELLO | {"node_id": "n2"}))  # hello: an inventory follows anyway
        # a new term: this watcher's first word of n1's agent is a stats message
        watcher.agent_said("n1", "a", _msg(STATS))
        watcher.agent_said("n1", "a", _msg(EVENT))
        await asyncio.sleep(0)
        assert asked == ["a"]
        watcher.agent_said("n1", "a", _msg({"type": "inventory", "tasks": [CONTAINER]}))
        # n1's agent is silent past its ttl (its messages lost), then speaks again: asked again
        await asyncio.sleep(PRODUCTION.agent_ttl + 2 * PRODUCTION.agent_stats_every)
        assert "n1" not in watcher.agents.live()
        watcher.agent_said("n1", "a", _msg(STATS))
        await asyncio.sleep(0)
        assert asked == ["a", "a"]


class DashboardSocket:
    """The dashboard's end of a link: it asks for a resend once, then waits."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()

    async def receive(self) -> aiohttp.WSMessage:
        return await self.messages.get()


async def test_an_agent_answers_resend_with_a_fresh_inventory() -> None:
    daemon = FakeDaemon()
    agent, link = known_agent(daemon), FakeLink()
    socket = DashboardSocket()
    real = Link(socket, "ws://dashboard", 5.0)  # type: ignore[arg-type]
    serving = asyncio.create_task(agent._serve(link))  # type: ignore[arg-type]
    reading = asyncio.create_task(real.closed(resend=agent.resend))
    try:
        await agent._mark_subscribed(_set())
        assert await sent_until(link, 1) == ["inventory"]
        socket.messages.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, '{"type": "nonsense"}', None))
        socket.messages.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, '{"type": "resend"}', None))
        assert await sent_until(link, 2) == ["inventory", "inventory"] and daemon.inventories == 2
    finally:
        for task in (serving, reading):
            task.cancel()
        await asyncio.gather(serving, reading, return_exceptions=True)
