"""The dashboard's side of node agents, as users run it: real daphne processes on the real lab, a
scripted agent (an aiohttp websocket speaking dashboard.agent.messages) and page sockets.

A bad token is refused with 4401 (and the token admits no page); a hostile message is refused with
4400 and changes nothing, a flood with 4429; a container killed through a worker's daemon shows ended on a page within
1 s of Docker with the production reconcile period (8 s), also when the agent's socket is held by a
process that does not run the watcher (Redis); health is taken only for the agent's own node's tasks
and shows in the task panel, masked; usage frames reach page sockets and the task's history."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from bench.harness.daphne import Dashboard
from dashboard.agent.messages import (
    AGENT_CLOSE_BUSY,
    AGENT_CLOSE_PROTOCOL,
    AGENT_CLOSE_REPLACED,
    AGENT_CLOSE_TOKEN,
    AGENT_PATH,
    MESSAGES_BURST,
    PROTOCOL,
)
from dashboard.core.model import FINAL_STATES
from tests.lab import Lab, Swarm, wait_until
from tests.pagemodel import PageModel
from tests.redisd import RedisServer

TOKEN = "test-agent-token-3f9c2a7d41b8e605"  # a throwaway token for a throwaway dashboard
AGENT_ENV = {"AGENT_TOKEN": TOKEN, "AGENT_STATS_EVERY": "1"}  # the reconcile stays at its production 8 s
pytestmark = pytest.mark.asyncio(loop_scope="function")


def ws_url(dash: Dashboard, path: str) -> str:
    return dash.url.replace("http://", "ws://") + path


class Page(PageModel):
    """A page's socket on one process: the model it holds, and the usage frames it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.usage: list[dict[str, Any]] = []

    def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "usage":
            self.usage.append(frame)
            self.changed.set()
            return
        super().frame(frame)

    async def until(self, what: str, predicate: Any, within: float) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def task(self, task_id: str) -> dict[str, Any]:
        return dict(self.model["tasks"].get(task_id) or {})


@contextlib.asynccontextmanager
async def page(dash: Dashboard) -> AsyncIterator[Page]:
    seen = Page()
    async with aiohttp.ClientSession() as session:
        headers = {"Cookie": dash.cookie, "Origin": dash.url}
        async with session.ws_connect(ws_url(dash, "/ws/swarm"), headers=headers, max_msg_size=0) as ws:

            async def read() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        seen.frame(json.loads(msg.data))

            reader = asyncio.create_task(read())
            try:
                await seen.until("the model", lambda: not seen.loading, 20)
                yield seen
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)


class Agent:
    """A scripted node agent: hello, then whatever the test makes it say."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def say(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def closed_with(self, within: float = 5) -> int | None:
        async with asyncio.timeout(within):
            while True:
                msg = await self.ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    return self.ws.close_code


@contextlib.asynccontextmanager
async def agent(dash: Dashboard, headers: dict[str, str], hello: dict[str, Any] | None) -> AsyncIterator[Agent]:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(dash, AGENT_PATH), headers=headers) as ws:
        speaker = Agent(ws)
        if hello is not None:
            await speaker.say(hello)
        yield speaker


def hello(node_id: str) -> dict[str, Any]:
    return {"type": "hello", "protocol": PROTOCOL, "node_id": node_id, "hostname": "h", "engine": "20.10", "agent": "t"}


def event(action: str, task: dict[str, Any], *, health: str = "", output: str = "") -> dict[str, Any]:
    return {
        "type": "event", "action": action, "task_id": task["ID"], "service_id": task["ServiceID"],
        "container_id": task["Status"]["ContainerStatus"]["ContainerID"], "time_nano": time.time_ns(),
        "exit_code": 137 if action == "die" else None, "health": health, "output": output,
    }  # fmt: skip


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def worker_task(lab: Lab, swarm: Swarm, hostname: str, *, restart: str = "any") -> dict[str, Any]:
    """A running task of a new one-replica service placed on ``hostname``."""
    name = swarm.create_service(
        "agent", extra=("--constraint", f"node.hostname=={hostname}", "--restart-condition", restart)
    )
    swarm.wait_running(name, 1)
    (task,) = [t for t in swarm.tasks(name) if t["Status"]["State"] == "running"]
    return task


async def kill_and_time_the_page(lab: Lab, node: int, task: dict[str, Any], speaker: Agent, seen: Page) -> float:
    """Kill the task's container through its node's daemon, the agent says so as its daemon does:
    seconds from Docker's own API saying the task ended to the page saying it."""
    shown_at: list[float] = []

    def page_shows() -> bool:
        if not shown_at and seen.task(task["ID"]).get("state") in FINAL_STATES:
            shown_at.append(time.monotonic())
        return bool(shown_at)

    def docker_says() -> float:
        state = lab.api(f"/tasks/{task['ID']}")["Status"]["State"]
        return time.monotonic() if state in FINAL_STATES else 0.0

    docker = asyncio.create_task(asyncio.to_thread(wait_until, docker_says, timeout=10, interval=0.02, what="died"))
    await asyncio.to_thread(lab.docker, "kill", task["Status"]["ContainerStatus"]["ContainerID"], node=node)
    await speaker.say(event("die", task))  # as soon as its daemon says so, an agent does
    await seen.until("the task ended", page_shows, 10)
    docker_at = float(await docker)
    return shown_at[0] - docker_at


def get_text(dash: Dashboard, path: str) -> str:
    request = urllib.request.Request(f"{dash.url}{path}", headers={"Cookie": dash.cookie})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
        return str(r.read().decode())


@pytest.fixture(scope="module")
def dash(lab: Lab) -> Iterator[Dashboard]:
    with Dashboard(lab.docker_host, env=AGENT_ENV) as d:
        yield d


async def test_only_the_token_admits_an_agent_and_a_hostile_message_changes_nothing(
    lab: Lab, swarm: Swarm, dash: Dashboard
) -> None:
    n2 = lab.node_ids()["swarm-n2"]
    refusals = {
        "no token": {},
        "a wrong token": {"Authorization": f"Bearer {TOKEN[:-1]}x"},
        "a session cookie": {"Cookie": dash.cookie},
        "a browser's origin": {**BEARER, "Origin": dash.url},
    }
    for why, headers in refusals.items():
        async with agent(dash, headers, hello(n2)) as refused:
            assert await refused.closed_with() == AGENT_CLOSE_TOKEN, why
    async with aiohttp.ClientSession() as session:  # the token opens no page
        async with session.get(f"{dash.url}/api/snapshot", headers=BEARER, allow_redirects=False) as r:
            assert r.status == 302 and "/accounts/login/" in r.headers["Location"]

    task = await asyncio.to_thread(worker_task, lab, swarm, "swarm-n2")
    async with page(dash) as seen:
        async with agent(dash, BEARER, hello(n2)) as hostile:
            welcome = json.loads((await hostile.ws.receive(timeout=5)).data)
            assert welcome == {"type": "welcome", "stats_every": 1.0}
            await seen.until("the agent", lambda: seen.model["nodes"][n2].get("agent"), 5)
            before = seen.task(task["ID"])
            bad = event("health_status", task, health="unhealthy", output="<script>x</script>") | {"exit_code": "1"}
            await hostile.say(bad)
            assert await hostile.closed_with() == AGENT_CLOSE_PROTOCOL
        await seen.until("the agent gone", lambda: not seen.model["nodes"][n2].get("agent"), 5)
        assert seen.task(task["ID"]) == before and before["health"] == ""
    # the token is shared: it does not let anyone speak for a node the swarm does not have
    async with agent(dash, BEARER, hello("nosuchnode0000000000000000")) as stranger:
        assert await stranger.closed_with() == AGENT_CLOSE_PROTOCOL
    # more messages than the dashboard takes: told apart from a malformed one (the agent paces itself)
    async with agent(dash, BEARER, hello(n2)) as flood:
        await flood.ws.receive(timeout=5)  # the welcome
        stats = {"type": "stats", "at": 1.0, "node": {"cpus": 2, "cpu": 0, "memory": 0, "memory_total": 1}, "tasks": []}
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            for _ in range(MESSAGES_BURST + 200):
                await flood.say(stats)
        assert await flood.closed_with() == AGENT_CLOSE_BUSY
    log = dash.log.read_text()
    assert TOKEN not in log and TOKEN[:-1] not in log, "the token was logged"
    assert "refused: no or wrong token" in log and "event.exit_code: expected a whole number" in log
    assert "not a node of this swarm" in log


async def test_an_agent_speaks_for_its_own_node_only_and_its_word_reaches_the_pages(
    lab: Lab, swarm: Swarm, dash: Dashboard
) -> None:
    ids = lab.node_ids()
    mine, other = await asyncio.gather(
        asyncio.to_thread(worker_task, lab, swarm, "swarm-n2"), asyncio.to_thread(worker_task, lab, swarm, "swarm-n3")
    )
    async with page(dash) as seen, agent(dash, BEARER, hello(ids["swarm-n2"])) as speaker:
        output = "<b>db down</b> --password hunter2"
        await speaker.say(event("health_status", mine, health="unhealthy", output=output))
        await speaker.say(event("health_status", other, health="unhealthy", output="n3's"))  # not n2's task
        await seen.until("unhealthy", lambda: seen.task(mine["ID"]).get("health") == "unhealthy", 2)
        assert seen.task(other["ID"])["health"] == ""
        # the task panel of a container on another node: the agent's output, as text, masked
        panel = await asyncio.to_thread(get_text, dash, f"/tasks/{mine['ID']}/panel?part=details")
        assert "&lt;b&gt;db down&lt;/b&gt;" in panel and "hunter2" not in panel
        assert "n3&#x27;s" not in await asyncio.to_thread(get_text, dash, f"/tasks/{other['ID']}/panel?part=details")

        sample = {"task_id": mine["ID"], "cpu": 0.25, "memory": 12_345_678, "memory_limit": 0}
        foreign = {"task_id": other["ID"], "cpu": 3.0, "memory": 1, "memory_limit": 0}
        node = {"cpus": 2.0, "cpu": 0.25, "memory": 12_345_678, "memory_total": 2**31}
        await speaker.say({"type": "stats", "at": time.time(), "node": node, "tasks": [sample, foreign]})
        await seen.until("usage", lambda: any(mine["ID"] in u["tasks"] for u in seen.usage), 3)
        frame = next(u for u in seen.usage if mine["ID"] in u["tasks"])
        assert frame["tasks"][mine["ID"]] == [0.25, 12_345_678, 0] and other["ID"] not in frame["tasks"]
        assert frame["nodes"][ids["swarm-n2"]] == [0.25, 2.0, 12_345_678, 2**31]
        history = await asyncio.to_thread(dash.get_json, f"/tasks/{mine['ID']}/usage")
        assert history["samples"] and history["samples"][-1][1:] == [0.25, 12_345_678]

        # a second hello for the node (the agent restarted before its old socket timed out) replaces the first
        async with agent(dash, BEARER, hello(ids["swarm-n2"])) as newer:
            assert json.loads((await newer.ws.receive(timeout=5)).data)["type"] == "welcome"
            assert await speaker.closed_with() == AGENT_CLOSE_REPLACED
            assert seen.model["nodes"][ids["swarm-n2"]]["agent"]


async def test_a_container_killed_on_a_worker_shows_ended_within_a_second_of_docker(
    lab: Lab, swarm: Swarm, dash: Dashboard
) -> None:
    task = await asyncio.to_thread(worker_task, lab, swarm, "swarm-n3", restart="none")
    async with page(dash) as seen, agent(dash, BEARER, hello(lab.node_ids()["swarm-n3"])) as speaker:
        lag = await kill_and_time_the_page(lab, 3, task, speaker, seen)
    assert lag < 1.0, f"the page showed the kill {lag:.2f}s after Docker (reconcile: 8 s)"
    print(f"\nworker kill: page {lag:+.2f}s after Docker")


async def test_an_agent_on_a_process_without_the_watcher_reaches_it_within_a_second(
    lab: Lab, swarm: Swarm, redis_server: RedisServer
) -> None:
    env = {**AGENT_ENV, "REDIS_URL": redis_server.url, "REDIS_NAMESPACE": f"a{time.monotonic_ns()}"}
    task = await asyncio.to_thread(worker_task, lab, swarm, "swarm-n2", restart="none")
    with contextlib.ExitStack() as processes:
        dashes = [processes.enter_context(Dashboard(lab.docker_host, env=env)) for _ in range(2)]

        def one_leader() -> list[bool] | None:
            found = [bool(d.get_json("/api/metrics")["leading"]) for d in dashes]
            return found if sorted(found) == [False, True] else None

        leading = await asyncio.to_thread(wait_until, one_leader, timeout=20, what="one process leading")
        follower = dashes[leading.index(False)]
        holder = dashes[leading.index(True)]
        n2 = lab.node_ids()["swarm-n2"]
        async with page(holder) as seen, agent(follower, BEARER, hello(n2)) as speaker:
            await seen.until("the agent", lambda: seen.model["nodes"][n2].get("agent"), 3)
            node = {"cpus": 2.0, "cpu": 0.5, "memory": 1, "memory_total": 2}
            sample = {"task_id": task["ID"], "cpu": 0.5, "memory": 1, "memory_limit": 0}
            await speaker.say({"type": "stats", "at": time.time(), "node": node, "tasks": [sample]})
            await seen.until("usage", lambda: any(task["ID"] in u["tasks"] for u in seen.usage), 4)
            # the task panel, on the process without the watcher: the output the leader passed on
            await speaker.say(event("health_status", task, health="unhealthy", output="db down"))
            panel = f"/tasks/{task['ID']}/panel?part=details"
            await asyncio.to_thread(
                wait_until, lambda: "db down" in get_text(follower, panel), timeout=5, what="the agent's output"
            )
            lag = await kill_and_time_the_page(lab, 2, task, speaker, seen)
        assert lag < 1.0, f"through Redis, the page showed the kill {lag:.2f}s after Docker"
        print(f"\nworker kill, agent on the process without the watcher: page {lag:+.2f}s after Docker")
