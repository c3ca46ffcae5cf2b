"""The agent's loops on a fast-forwarded clock (looptime): capped, jittered backoff for ever; a fresh
inventory for every new events stream and after an overflow; a refused token logged without it."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

import pytest

from dashboard.agent import link as agent_link
from dashboard.agent import run
from dashboard.agent.backoff import Backoff
from dashboard.agent.config import AgentSettings
from dashboard.agent.daemon import Identity, NodeDaemon
from dashboard.agent.link import Link
from dashboard.agent.messages import MESSAGES_BURST, MESSAGES_PER_SECOND, AgentMessage, Event, TaskContainer
from dashboard.core.docker import Endpoint
from dashboard.live.budget import Bucket

pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]

TOKEN = "t0ken-that-must-never-be-logged"
SETTINGS = AgentSettings(dashboard_url="ws://127.0.0.1:9/ws/agent", token=TOKEN)


async def test_backoff_doubles_up_to_its_cap_and_starts_again_after_a_reset() -> None:
    loop = asyncio.get_running_loop()
    backoff = Backoff(first=0.5, cap=30.0, rand=lambda: 1.0)
    t0 = loop.time()
    delays = [await backoff.wait() for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert loop.time() - t0 == pytest.approx(sum(delays))
    backoff.reset()
    assert backoff.next() == 0.5
    # full jitter, never a tight loop: a zero draw still waits a tenth of the first delay
    assert Backoff(first=0.5, rand=lambda: 0.0).next() == 0.05


class FakeDaemon(NodeDaemon):
    """The node daemon's reads the link side makes, without a daemon."""

    def __init__(self) -> None:
        super().__init__(Endpoint(host="unix:///nonexistent.sock"))
        self.inventories = 0

    async def inventory(self) -> list[TaskContainer]:
        self.inventories += 1
        return [TaskContainer(task_id=f"t{self.inventories}", service_id="s", container_id="c", running=True,
                              health="", output="", oom_killed=False, exit_code=None)]  # fmt: skip


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[AgentMessage] = []
        self.arrived = asyncio.Event()

    async def send(self, message: AgentMessage) -> None:
        self.sent.append(message)
        self.arrived.set()

    def behind(self, waiting: int) -> bool:
        return False


def known_agent(daemon: NodeDaemon) -> run.Agent:
    agent = run.Agent(SETTINGS, daemon)
    agent.identity = Identity(node_id="n1", hostname="swarm-n1", engine="20.10", info={"NCPU": 2, "MemTotal": 1})
    agent.known.set()
    return agent


def event(n: int) -> Event:
    return Event(type="event", action="die", task_id=f"t{n}", service_id="s", container_id="c", time_nano=n,
                 exit_code=1, health="", output="")  # fmt: skip


async def sent_until(link: FakeLink, count: int) -> list[str]:
    async with asyncio.timeout(5):
        while len(link.sent) < count:
            link.arrived.clear()
            await link.arrived.wait()
    return [m["type"] for m in link.sent]


async def test_every_new_events_stream_and_every_overflow_bring_a_fresh_inventory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run, "MAX_PENDING_EVENTS", 3)
    daemon = FakeDaemon()
    agent, link = known_agent(daemon), FakeLink()
    serving = asyncio.create_task(agent._serve(link))  # type: ignore[arg-type]
    try:
        # nothing before the daemon's events stream is open: the list must come after the subscription
        await asyncio.sleep(1)
        assert link.sent == [] and daemon.inventories == 0
        await agent._mark_subscribed(_set())
        assert await sent_until(link, 1) == ["inventory"]
        agent._put(event(1))
        assert await sent_until(link, 2) == ["inventory", "event"]
        # the daemon's stream reopened (a daemon restart): whatever happened meanwhile, a fresh list
        agent.subscribed.clear()
        await agent._mark_subscribed(_set())
        assert await sent_until(link, 3) == ["inventory", "event", "inventory"]
        # a link too slow for the events: the oldest are dropped and a fresh list replaces them
        for n in range(2, 7):
            agent._put(event(n))
        await sent_until(link, 4)
        assert link.sent[3]["type"] == "inventory" and daemon.inventories == 3
    finally:
        serving.cancel()


def _set() -> asyncio.Event:
    opened = asyncio.Event()
    opened.set()
    return opened


async def test_a_refused_token_is_retried_with_backoff_and_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    class Refused:  # the socket as the dashboard left it: closed with 4401
        close_code = 4401

    async def refuse(*args: Any) -> None:
        attempts.append(loop.time())
        raise agent_link._closed(Refused(), SETTINGS.describe())  # type: ignore[arg-type]  # the real message path

    agent = known_agent(FakeDaemon())
    monkeypatch.setattr(agent, "_session", refuse)
    # no jitter: the ceiling each time
    monkeypatch.setattr(run, "Backoff", lambda cap: Backoff(cap=cap, rand=lambda: 1.0))
    with caplog.at_level(logging.INFO, logger="dashboard.agent"):
        await agent.keep_linked(_iterations=8)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    assert gaps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert caplog.text.count("refused this agent's token (close 4401)") == 8
    assert TOKEN not in caplog.text


async def test_an_unexpected_failure_is_logged_and_tried_again_not_the_end_of_the_agent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def broken(*args: Any) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("an answer nobody expected")

    agent = known_agent(FakeDaemon())
    monkeypatch.setattr(agent, "_session", broken)
    with caplog.at_level(logging.INFO, logger="dashboard.agent"):
        await agent.keep_linked(_iterations=3)
    assert calls == 3 and caplog.text.count("dashboard: unexpected failure") == 3
    assert "KeyError: 'an answer nobody expected'" in caplog.text


class DashboardSide:
    """The socket as the dashboard holds it: every message spends a token of its budget."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.budget = Bucket(MESSAGES_BURST, MESSAGES_PER_SECOND, loop.time)
        self.types: list[str] = []
        self.over_budget = 0
        self.got = asyncio.Event()

    async def send_str(self, text: str) -> None:
        if not self.budget.take():
            self.over_budget += 1
        self.types.append(json.loads(text)["type"])
        self.got.set()
        await asyncio.sleep(0)


async def test_a_burst_of_events_is_paced_below_the_dashboards_budget_and_what_is_behind_becomes_an_inventory() -> None:
    daemon = FakeDaemon()
    agent = known_agent(daemon)
    dashboard = DashboardSide()
    link = Link(dashboard, "ws://dashboard", 5.0)  # type: ignore[arg-type]
    serving = asyncio.create_task(agent._serve(link))
    try:
        await agent._mark_subscribed(_set())
        # a node drained: 250 containers stop at once, kill, die and destroy each, then more
        for n in range(2000):
            agent._put(event(n))
            if n % 4 == 0:
                await asyncio.sleep(0.01)
        async with asyncio.timeout(30):
            while agent.pending:
                dashboard.got.clear()
                await dashboard.got.wait()
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert dashboard.over_budget == 0, "the dashboard would have closed the link (4429)"
    assert dashboard.types.count("inventory") >= 2 and daemon.inventories == dashboard.types.count("inventory")
    assert dashboard.types.count("event") < 2000  # what was behind went as one inventory
