"""The node agents' words at the dashboard: the parser refuses anything an agent of this protocol
would not send; the watcher takes an event as a hint, folds health and OOM kills in only where the
model agrees, says which nodes have an agent, and relaxes its reconcile while they cover every
node (on a fast-forwarded clock)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.agent.messages import MAX_MESSAGE_BYTES, MAX_OUTPUT_CHARS, PROTOCOL
from dashboard.core.agents import AgentProtocolError, parse_message
from dashboard.core.agents_store import AgentKnowledge, reconcile_period
from dashboard.core.watch import Watcher, WatchSettings
from tests.integration.test_watcher import watching_with
from tests.unit.fakedocker import FakeDocker, factory, node, service, task

HELLO = {"type": "hello", "protocol": PROTOCOL, "node_id": "n1", "hostname": "node-1", "engine": "29.0", "agent": "1"}
CONTAINER = {
    "task_id": "t1", "service_id": "s1", "container_id": "c1", "running": True, "health": "healthy",
    "output": "ok", "oom_killed": False, "exit_code": None,
}  # fmt: skip
INVENTORY = {"type": "inventory", "tasks": [CONTAINER]}
EVENT = {
    "type": "event", "action": "health_status", "task_id": "t1", "service_id": "s1", "container_id": "c1",
    "time_nano": 1, "exit_code": None, "health": "unhealthy", "output": "<b>down</b>",
}  # fmt: skip
DIED = EVENT | {"action": "die", "health": "", "output": ""}
STATS = {
    "type": "stats", "at": 1.5, "node": {"cpus": 2, "cpu": 0.5, "memory": 100, "memory_total": 1000},
    "tasks": [{"task_id": "t1", "cpu": 0.25, "memory": 50, "memory_limit": 0}],
}  # fmt: skip


def _text(message: Any) -> str:
    return json.dumps(message)


def _with(message: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(message)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


_DROP = object()


@pytest.mark.parametrize("message", [HELLO, INVENTORY, EVENT, STATS])
def test_it_reads_every_message_an_agent_sends(message: dict[str, Any]) -> None:
    assert parse_message(_text(message)) == message | ({"at": 1.5} if message is STATS else {})


def test_it_keeps_markup_in_an_agents_strings_as_text() -> None:
    hostile = "<img src=x onerror=alert(1)>\u202e\x00"
    hello = parse_message(_text(HELLO | {"hostname": hostile}))
    assert hello["type"] == "hello" and hello["hostname"] == hostile
    event = parse_message(_text(EVENT))
    assert event["type"] == "event" and event["output"] == "<b>down</b>"


HOSTILE: list[tuple[str, str | bytes]] = [
    ("binary", b"{}"),
    ("not json", "{"),
    ("an array", "[]"),
    ("nested", "[" * 100_000 + "]" * 100_000),
    ("too large", _text(HELLO | {"hostname": "x" * MAX_MESSAGE_BYTES})),
    ("unknown type", _text({"type": "<script>"})),
    ("no type", _text({"node_id": "n1"})),
    ("other protocol", _text(HELLO | {"protocol": PROTOCOL + 1})),
    ("protocol as text", _text(HELLO | {"protocol": str(PROTOCOL)})),
    ("protocol as bool", _text(HELLO | {"protocol": True})),
    ("node id not an id", _text(HELLO | {"node_id": "../../etc"})),
    ("node id upper case", _text(HELLO | {"node_id": "N1"})),
    ("node id empty", _text(HELLO | {"node_id": ""})),
    ("hostname too long", _text(HELLO | {"hostname": "h" * 256})),
    ("hostname nested", _text(HELLO | {"hostname": {"a": "b"}})),
    ("a field missing", _text(_with(HELLO, ("engine",), _DROP))),
    ("an unknown field", _text(HELLO | {"admin": True})),
    ("inventory not a list", _text(INVENTORY | {"tasks": {"t1": CONTAINER}})),
    ("inventory too long", _text({"type": "inventory", "tasks": [CONTAINER] * 5001})),
    ("container not an object", _text({"type": "inventory", "tasks": ["t1"]})),
    ("container task id", _text(_with(INVENTORY, ("tasks", 0, "task_id"), "t 1"))),
    ("container health", _text(_with(INVENTORY, ("tasks", 0, "health"), "fine"))),
    ("container running", _text(_with(INVENTORY, ("tasks", 0, "running"), 1))),
    ("container oom", _text(_with(INVENTORY, ("tasks", 0, "oom_killed"), "false"))),
    ("container exit code", _text(_with(INVENTORY, ("tasks", 0, "exit_code"), 1.5))),
    ("output too long", _text(_with(INVENTORY, ("tasks", 0, "output"), "o" * (MAX_OUTPUT_CHARS + 1)))),
    ("event action", _text(EVENT | {"action": "exec_start"})),
    ("event time", _text(EVENT | {"time_nano": -1})),
    ("event time huge", _text(EVENT | {"time_nano": 2**64})),
    ("event service id", _text(EVENT | {"service_id": None})),
    ("event output", _text(EVENT | {"output": ["x"]})),
    ("stats at", _text(STATS | {"at": "now"})),
    ("stats at NaN", '{"type": "stats", "at": NaN, "node": {}, "tasks": []}'),
    ("stats node missing", _text(_with(STATS, ("node",), _DROP))),
    ("stats node cpu negative", _text(_with(STATS, ("node", "cpu"), -1))),
    ("stats node cpu infinite", _text(STATS).replace('"cpu": 0.5', '"cpu": Infinity')),
    ("stats task memory", _text(_with(STATS, ("tasks", 0, "memory"), "50"))),
    ("stats task memory huge", _text(_with(STATS, ("tasks", 0, "memory"), 2**70))),
    ("stats task extra", _text(_with(STATS, ("tasks", 0, "node_id"), "n2"))),
]


@pytest.mark.parametrize(("why", "text"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_it_refuses_a_hostile_message_with_a_reason(why: str, text: str | bytes) -> None:
    with pytest.raises(AgentProtocolError) as refused:
        parse_message(text)
    assert str(refused.value) and "\n" not in str(refused.value)
    assert "x" * 100 not in str(refused.value)  # the reason names the field, never echoes the value


# --- the store, pure ------------------------------------------------------------------------------


def _msg(message: dict[str, Any]) -> Any:
    return parse_message(_text(message))


def test_it_folds_an_agents_word_only_into_its_own_nodes_tasks_that_exist() -> None:
    store = AgentKnowledge(ttl=15)
    tasks = {"t1": task("t1", "s1", "n1", state="failed"), "t2": task("t2", "s1", "n2")}
    nodes = {"n1": node("n1"), "n2": node("n2")}
    store.said("n1", "a", _msg(HELLO), 0)
    # t2 runs on n2: the agent of n1 cannot say anything of it; t9 does not exist
    services, changed = store.said(
        "n1", "a", _msg({"type": "inventory", "tasks": [
            CONTAINER | {"oom_killed": True},
            CONTAINER | {"task_id": "t2", "health": "unhealthy"},
            CONTAINER | {"task_id": "t9", "health": "unhealthy"},
        ]}), 1,
    )  # fmt: skip
    assert services == {"s1"} and changed
    folded_nodes, folded, touched = store.fold(nodes, tasks)
    assert folded["t1"].health == "healthy" and folded["t1"].oom_killed
    assert folded["t2"] == tasks["t2"]
    assert "t9" not in folded and touched == {"t1"}
    assert folded_nodes["n1"].agent and not folded_nodes["n2"].agent
    assert store.fold(nodes, tasks)[2] == set()  # nothing new: nothing to compare


def test_a_newer_hello_replaces_the_older_socket_and_its_goodbye_changes_nothing() -> None:
    store = AgentKnowledge(ttl=15)
    store.said("n1", "old", _msg(HELLO), 0)
    store.said("n1", "new", _msg(HELLO), 1)
    assert store.said("n1", "old", _msg(EVENT), 2) == (set(), False)
    assert not store.gone("n1", "old") and store.live() == {"n1"}
    assert store.gone("n1", "new") and store.live() == set()


def test_an_agent_not_heard_of_for_its_ttl_is_no_longer_live() -> None:
    store = AgentKnowledge(ttl=15)
    store.said("n1", "a", _msg(HELLO), 0)
    store.said("n1", "a", _msg(STATS), 10)
    assert not store.expire(24) and store.live() == {"n1"}
    assert store.expire(25.1) and store.live() == set()


def test_the_reconcile_relaxes_only_while_every_ready_node_has_a_live_agent() -> None:
    nodes = [node("n1"), node("n2"), node("n3", state="down")]
    assert reconcile_period(8, nodes, {"n1", "n2"}) == 32  # a down node has no agent to run
    assert reconcile_period(8, nodes, {"n1"}) == 8
    assert reconcile_period(8, [], set()) == 8


# --- the watcher, on a fast-forwarded clock -------------------------------------------------------

PRODUCTION = WatchSettings()


def two_nodes() -> FakeDocker:
    docker = FakeDocker()
    docker.nodes = {"n1": node("n1"), "n2": node("n2")}
    docker.services = {"s1": service("s1", replicas=2)}
    docker.tasks = {"t1": task("t1", "s1", "n1", slot=1), "t2": task("t2", "s1", "n2", slot=2)}
    return docker


@contextlib.asynccontextmanager
async def agent_on_n2(docker: FakeDocker) -> AsyncIterator[Watcher]:
    """The watcher of ``docker``, live, and an agent of node n2 (socket "a") said hello to it."""
    async with watching_with(factory(docker), PRODUCTION) as watcher:
        watcher.agent_said("n2", "a", _msg(HELLO | {"node_id": "n2"}))
        yield watcher


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_it_takes_an_event_as_a_hint_and_never_as_the_truth() -> None:
    docker = two_nodes()
    async with agent_on_n2(docker) as watcher:
        before = len(docker.calls_of("tasks"))
        said_at = asyncio.get_running_loop().time()
        # the agent says t2 died; Docker says so too: the re-list comes at once, not at the reconcile
        docker.tasks["t2"] = task("t2", "s1", "n2", slot=2, state="failed")
        watcher.agent_said("n2", "a", _msg(DIED | {"task_id": "t2"}))
        await watcher.wait_for(lambda s: s.tasks["t2"].state == "failed", 1)
        assert asyncio.get_running_loop().time() - said_at < 0.1 and len(docker.calls_of("tasks")) == before + 1
        # an agent that says a task died which Docker says runs changes nothing but a re-list
        watcher.agent_said("n2", "a", _msg(DIED | {"task_id": "t1"}))
        await asyncio.sleep(1)
        assert watcher.snapshot.tasks["t1"].state == "running"


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_a_task_an_agent_says_ended_is_relisted_until_the_manager_knows_it_too() -> None:
    docker = two_nodes()
    async with agent_on_n2(docker) as watcher:
        loop = asyncio.get_running_loop()
        said_at = loop.time()
        watcher.agent_said("n2", "a", _msg(DIED | {"task_id": "t2"}))
        # the worker tells its manager a little after its daemon told the agent: the first re-list
        # still finds t2 running, and does not call the service settled for it
        loop.call_later(0.25, lambda: docker.tasks.update(t2=task("t2", "s1", "n2", slot=2, state="failed")))
        await watcher.wait_for(lambda s: s.tasks["t2"].state == "failed", 1)
        assert loop.time() - said_at <= 0.25 + 0.15
        calls = len(docker.calls_of("tasks"))
        await asyncio.sleep(3)
        assert len(docker.calls_of("tasks")) - calls <= 2, "the manager knows: no more re-lists at 0.1 s"


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_it_publishes_health_and_oom_of_the_agents_own_node_and_which_nodes_have_one() -> None:
    docker = two_nodes()
    async with watching_with(factory(docker), PRODUCTION) as watcher:
        watcher.agent_said("n1", "a", _msg(HELLO))
        watcher.agent_said("n1", "a", _msg(EVENT))  # t1 runs on n1: unhealthy
        watcher.agent_said("n1", "a", _msg(EVENT | {"task_id": "t2"}))  # t2 runs on n2: ignored
        watcher.agent_said("n1", "a", _msg(EVENT | {"action": "oom", "health": "", "output": ""}))
        snapshot = await watcher.wait_for(lambda s: s.tasks["t1"].health == "unhealthy", 1)
        assert not snapshot.tasks["t1"].oom_killed  # a child process's OOM kill, perhaps: t1 runs on
        docker.tasks["t1"] = task("t1", "s1", "n1", slot=1, state="failed")
        watcher.agent_said("n1", "a", _msg(DIED))
        snapshot = await watcher.wait_for(lambda s: s.tasks["t1"].oom_killed, 1)
        assert snapshot.tasks["t1"].health == "unhealthy" and snapshot.tasks["t2"].health == ""
        assert snapshot.nodes["n1"].agent and not snapshot.nodes["n2"].agent
        word = watcher.agent_word(snapshot.tasks["t1"])
        assert word is not None and word.output == "<b>down</b>"
        assert watcher.agent_word(snapshot.tasks["t2"]) is None
        watcher.agent_gone("n1", "a")
        snapshot = await watcher.wait_for(lambda s: not s.nodes["n1"].agent, 1)
        assert not snapshot.tasks["t1"].oom_killed  # the agent's word went with it


@pytest.mark.looptime
@pytest.mark.asyncio(loop_scope="function")
async def test_the_reconcile_relaxes_while_agents_cover_every_node_and_not_a_moment_longer() -> None:
    docker = two_nodes()
    async with watching_with(factory(docker), PRODUCTION) as watcher:
        loop = asyncio.get_running_loop()
        for node_id in ("n1", "n2"):
            watcher.agent_said(node_id, node_id, _msg(HELLO | {"node_id": node_id}))
        await watcher.wait_for(lambda s: s.nodes["n1"].agent and s.nodes["n2"].agent, 1)
        start = len(docker.calls_of("tasks"))
        for _ in range(12):  # the agents keep talking: their stats are their proof of life
            await asyncio.sleep(5)
            for node_id in ("n1", "n2"):
                watcher.agent_said(node_id, node_id, _msg(STATS))
            # pages judge the model stale by Docker's last answer against the reconcile's period
            age = watcher.docker_age()
            assert age is not None and age <= PRODUCTION.reconcile + 0.1, "relaxed, Docker is still heard"
        assert len(docker.calls_of("tasks")) - start <= 2, "60 s covered by agents: one reconcile in 32 s"
        watcher.agent_gone("n2", "n2")
        gone_at = loop.time()
        await asyncio.sleep(PRODUCTION.reconcile + 0.5)  # a fast-forwarded clock: no time passes
        relisted = [at for at in docker.calls_of("tasks") if at > gone_at]
        assert relisted and relisted[0] - gone_at <= PRODUCTION.reconcile + 0.1, "back to the normal period"
        # and an agent whose process died (no goodbye) stops counting after its ttl
        await watcher.wait_for(lambda s: not s.nodes["n1"].agent, PRODUCTION.agent_ttl + PRODUCTION.agent_stats_every)


# --- admission ------------------------------------------------------------------------------------


def test_only_the_bearer_token_itself_admits() -> None:
    from dashboard.live.agent_socket import token_admits

    token = "t" * 32

    def scope(value: str) -> dict[str, Any]:
        return {"headers": [(b"authorization", value.encode())]}

    assert token_admits(scope(f"Bearer {token}"), token) and token_admits(scope(f"bearer {token}"), token)
    for wrong in (f"Basic {token}", f"Bearer {token}x", f"Bearer {token[:-1]}", "Bearer ", token, ""):
        assert not token_admits(scope(wrong), token), wrong
    assert not token_admits({"headers": []}, token)
    assert not token_admits(scope("Bearer "), None) and not token_admits(scope("Bearer "), "")


def test_a_short_agent_token_is_refused_at_start_and_a_file_is_read(tmp_path: Path) -> None:
    from tests.unit.test_settings_datadir import KEY, manage

    short = manage("check", DATA_DIR=str(tmp_path), SECRET_KEY=KEY, AGENT_TOKEN="too-short")
    assert short.returncode != 0 and "AGENT_TOKEN: at least 16 characters" in short.stderr
    assert "too-short" not in short.stderr  # the token is never echoed, even a refused one
    # what no agent would send (it travels in a header) is refused the same way as by the agent
    spaced = manage("check", DATA_DIR=str(tmp_path), SECRET_KEY=KEY, AGENT_TOKEN="a token with spaces in it")
    assert spaced.returncode != 0 and "printable ASCII characters without spaces" in spaced.stderr
    token = tmp_path / "token"
    token.write_text("a-token-read-from-a-docker-secret\n")
    from_file = manage("check", DATA_DIR=str(tmp_path), SECRET_KEY=KEY, AGENT_TOKEN_FILE=str(token))
    assert from_file.returncode == 0, from_file.stderr[-2000:]


@pytest.mark.asyncio(loop_scope="function")
async def test_without_a_token_agents_are_off_and_the_log_says_so(settings: Any) -> None:
    from channels.testing import WebsocketCommunicator

    from dashboard.live import agent_socket
    from visualizer.asgi import application

    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    agent_socket.log.addHandler(handler)
    settings.AGENT_TOKEN = None
    try:
        agent_socket.announce()
        socket = WebsocketCommunicator(application, "/ws/agent", headers=[(b"authorization", b"Bearer anything")])
        assert (await socket.connect(timeout=5))[0]
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    finally:
        agent_socket.log.removeHandler(handler)
    assert said[0] == "node agents are off: AGENT_TOKEN is not set, /ws/agent refuses every agent"
    assert "refused: agents are off (AGENT_TOKEN is not set)" in said[1] and "anything" not in " ".join(said)


def test_refused_handshakes_are_logged_once_a_minute_per_peer_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    from dashboard.live import agent_socket

    agent_socket._refusals = agent_socket.OncePerMinute()
    with caplog.at_level(logging.WARNING, logger="dashboard.live.agent_socket"):
        for second in range(0, 60, 5):  # an agent with a wrong token retries every 5 s
            agent_socket.log_refusal("10.0.0.7", "no or wrong token", 1000.0 + second)
        agent_socket.log_refusal("10.0.0.8", "no or wrong token", 1001.0)
        agent_socket.log_refusal("10.0.0.7", "no or wrong token", 1060.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "agent socket from 10.0.0.7 refused: no or wrong token",
        "agent socket from 10.0.0.8 refused: no or wrong token",
        "agent socket from 10.0.0.7 refused: no or wrong token (11 more refused since the last line)",
    ]


def test_a_node_whose_agent_keeps_being_replaced_is_said_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    from dashboard.live import agent_socket

    agent_socket._replacements = agent_socket.OncePerMinute()
    with caplog.at_level(logging.INFO, logger="dashboard.live.agent_socket"):
        for second in range(0, 60, 2):  # two agents for n1, each replacing the other
            agent_socket.log_replaced("n1", "10.0.0.7", 1000.0 + second)
        agent_socket.log_replaced("n1", "10.0.0.9", 1061.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(caplog.records) == 2 and len(warnings) == 1
    assert "node agent of n1 replaced 30 more times within a minute (last from 10.0.0.9)" in warnings[0]
