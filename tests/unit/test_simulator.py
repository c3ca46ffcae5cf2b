"""bench.simulator answers like a swarm manager: the dashboard's own client reads it without a difference."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import pytest

from bench.simulator import Simulator
from dashboard.core.docker import DaemonUnreachable, DockerClient, Endpoint, Event

ROOT = Path(__file__).resolve().parents[2]
SWARM_ID = re.compile(r"^[0-9a-z]{25}$")


@contextlib.asynccontextmanager
async def serving(sim: Simulator) -> AsyncIterator[str]:
    """A short socket path: unix socket paths are limited to 108 bytes, pytest's tmp_path is long."""
    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    path = f"{folder}/docker.sock"
    await sim.start(path)
    try:
        yield path
    finally:
        await sim.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(nodes=6, tasks=60, managers=3, seed=7, step_delay=0)
    async with serving(simulator):
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[DockerClient]:
    async with DockerClient(Endpoint(host="unix://" + sim.socket_path)) as docker:
        yield docker


async def raw(path: str, socket_path: str) -> tuple[int, Any, Any]:
    """GET a path as-is: status, parsed JSON (or text) and headers."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as session,
        session.get("http://docker" + path) as response,
    ):
        body = await response.read()
        streamed = path.split("?")[0].endswith("/events")  # JSON lines, not one document
        parsed = json.loads(body) if response.content_type == "application/json" and not streamed else body.decode()
        return response.status, parsed, response.headers


@contextlib.asynccontextmanager
async def event_stream(client: DockerClient, since: int, *, liveness: float = 5) -> AsyncIterator[AsyncIterator[Event]]:
    """client.events without its silence ticks, closed on the way out even when a test stops reading early."""
    raw = cast(AsyncGenerator[Event | None, None], client.events(since=since, liveness=liveness))

    async def events() -> AsyncIterator[Event]:
        async for event in raw:
            if event is not None:
                yield event

    try:
        yield events()
    finally:
        await raw.aclose()


def filters(**values: list[str]) -> str:
    return quote(json.dumps({k.replace("_", "-"): v for k, v in values.items()}))


async def first_event(
    client: DockerClient, since: int, wanted: Callable[[Event], bool], *, timeout: float = 5
) -> tuple[Event, list[Event]]:
    """Read /events from ``since`` until an event is ``wanted``; returns it and every event before it."""
    before: list[Event] = []
    async with asyncio.timeout(timeout), event_stream(client, since) as events:
        async for event in events:
            if wanted(event):
                return event, before
            before.append(event)
    raise AssertionError("the event stream ended")


def on_node(sim: Simulator, node_id: str) -> str:
    """A running task of a replicated service on ``node_id``."""
    for task_id in sim.task_ids(node_id=node_id, state="running"):
        if "Slot" in sim.task(task_id):
            return task_id
    raise AssertionError(f"no running replicated task on {node_id}")


async def test_it_passes_check_manager_as_the_leader_node(client: DockerClient) -> None:
    info = await client.check_manager()
    assert info["Name"] == "sim-node-001"
    assert info["ServerVersion"] == "20.10.24"
    assert info["Swarm"]["Nodes"] == 6
    assert info["Swarm"]["Managers"] == 3
    assert SWARM_ID.match(info["Swarm"]["NodeID"])


async def test_it_lists_nodes_with_the_first_ones_as_managers_and_node_one_leading(client: DockerClient) -> None:
    nodes = {n.hostname: n for n in await client.nodes()}
    assert sorted(nodes) == [f"sim-node-00{i}" for i in range(1, 7)]
    assert [h for h, n in sorted(nodes.items()) if n.role == "manager"] == [
        "sim-node-001",
        "sim-node-002",
        "sim-node-003",
    ]
    assert [h for h, n in nodes.items() if n.leader] == ["sim-node-001"]
    assert {n.reachability for n in nodes.values() if n.role == "manager"} == {"reachable"}
    assert {(n.state, n.availability) for n in nodes.values()} == {("ready", "active")}
    assert all(SWARM_ID.match(n.id) and n.cpus >= 2 and n.engine_version == "20.10.24" for n in nodes.values())


async def test_it_spreads_the_requested_tasks_over_every_node(sim: Simulator, client: DockerClient) -> None:
    tasks = await client.tasks()
    assert len(tasks) == 60
    assert {t.state for t in tasks} == {"running"}
    assert set(Counter(t.node_id for t in tasks)) == set(sim.node_ids)
    assert len({t.id for t in tasks}) == 60 and all(SWARM_ID.match(t.id) for t in tasks)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$", t.status_at) for t in tasks)
    services = await client.services()
    assert {s.mode for s in services} == {"replicated", "global"}
    for service in services:
        mine = [t for t in tasks if t.service_id == service.id]
        if service.mode == "global":
            assert sorted(t.node_id for t in mine) == sorted(sim.node_ids)
            assert {t.slot for t in mine} == {None}
        else:
            assert sorted(t.slot for t in mine if t.slot is not None) == list(range(1, (service.replicas or 0) + 1))


async def test_it_reports_running_and_desired_tasks_per_service(client: DockerClient) -> None:
    services = await client.services()
    assert len(services) > 3
    for service in services:
        expected = 6 if service.mode == "global" else service.replicas
        assert (service.running_tasks, service.desired_tasks) == (expected, expected)
        assert "@sha256:" not in service.image and service.image


async def test_it_filters_tasks_by_service_and_node_or_ing_values_and_and_ing_keys(
    sim: Simulator, client: DockerClient
) -> None:
    everything = await client.tasks()
    one, two = (await client.services())[:2]
    by_service = await client.tasks(service_ids=(one.id, two.name))
    assert {t.id for t in by_service} == {t.id for t in everything if t.service_id in (one.id, two.id)}
    node_a, node_b = sim.node_ids[:2]
    by_node = await client.tasks(node_ids=(node_a, "sim-node-002"))
    assert {t.id for t in by_node} == {t.id for t in everything if t.node_id in (node_a, node_b)}
    both = await client.tasks(service_ids=(one.id,), node_ids=(node_a,))
    assert {t.id for t in both} == {t.id for t in everything if t.service_id == one.id and t.node_id == node_a}
    services = await client.services(ids=(one.id,))
    assert [s.name for s in services] == [one.name]


async def test_it_filters_by_desired_state_id_and_name_as_docker_does(sim: Simulator) -> None:
    failed = sim.task_ids()[0]
    sim.fail_task(failed)
    status, shut, _ = await raw("/v1.41/tasks?filters=" + filters(desired_state=["shutdown"]), sim.socket_path)
    assert status == 200 and [t["ID"] for t in shut] == [failed]
    status, found, _ = await raw("/v1.41/tasks?filters=" + filters(id=[failed[:10]]), sim.socket_path)
    assert [t["ID"] for t in found] == [failed]
    name = (await raw(f"/v1.41/services/{sim.service_ids[0]}", sim.socket_path))[1]["Spec"]["Name"]
    status, named, _ = await raw("/services?filters=" + filters(name=[name]), sim.socket_path)
    assert status == 200 and name in [s["Spec"]["Name"] for s in named]


async def test_it_answers_errors_in_dockers_shape(sim: Simulator) -> None:
    path = sim.socket_path
    assert (await raw("/v1.41/nothing", path))[:2] == (404, {"message": "page not found"})
    assert (await raw("/v1.41/tasks/nonexistent", path))[:2] == (404, {"message": "task nonexistent not found"})
    assert (await raw("/nodes/nonexistent", path))[:2] == (404, {"message": "node nonexistent not found"})
    assert (await raw("/v1.41/tasks?filters=" + filters(bogus=["x"]), path))[:2] == (
        400,
        {"message": "Invalid filter 'bogus'"},
    )
    status, body, _ = await raw("/v1.41/tasks?filters=" + filters(service=["nonexist"]), path)
    assert (status, body) == (404, {"message": "service nonexist not found"})
    status, body, _ = await raw("/v1.99/_ping", path)
    assert status == 400 and "too new" in body["message"]


async def test_it_serves_with_and_without_a_version_prefix(sim: Simulator) -> None:
    path = sim.socket_path
    status, text, headers = await raw("/_ping", path)
    assert (status, text, headers["Api-Version"]) == (200, "OK", "1.41")
    assert (await raw("/v1.41/version", path))[1]["ApiVersion"] == "1.41"
    assert (await raw("/v1.41/secrets", path))[1] == [] == (await raw("/configs", path))[1]
    assert len((await raw("/v1.41/nodes", path))[1]) == len((await raw("/nodes", path))[1]) == 6


async def test_it_keeps_a_failed_task_with_its_exit_code_and_replaces_it_in_its_slot(
    sim: Simulator, client: DockerClient
) -> None:
    victim = on_node(sim, sim.node_ids[1])
    before = sim.task(victim)
    replacement = sim.fail_task(victim, exit_code=3)
    failed = next(t for t in await client.tasks() if t.id == victim)
    assert (failed.state, failed.desired_state) == ("failed", "shutdown")
    assert (failed.exit_code, failed.error) == (3, "task: non-zero exit (3)")
    new = sim.task(replacement)
    assert new["Slot"] == before["Slot"] and new["ServiceID"] == before["ServiceID"]
    assert (new["Status"]["State"], new["DesiredState"]) == ("running", "running")
    assert before["Version"]["Index"] < sim.task(victim)["Version"]["Index"] < new["Version"]["Index"]


async def test_it_keeps_five_tasks_per_slot(sim: Simulator) -> None:
    task_id = on_node(sim, sim.local_node_id)
    service_id, slot = sim.task(task_id)["ServiceID"], sim.task(task_id)["Slot"]
    for _ in range(8):
        task_id = sim.fail_task(task_id)
    in_slot = [t for t in sim.task_ids(service_id=service_id) if sim.task(t).get("Slot") == slot]
    assert len(in_slot) == 5
    assert sorted(sim.task(t)["Status"]["State"] for t in in_slot) == ["failed"] * 4 + ["running"]


async def test_it_sends_a_service_update_event_with_the_replica_counts_after_scale(
    sim: Simulator, client: DockerClient
) -> None:
    service = next(s for s in await client.services() if s.mode == "replicated")
    replicas = service.replicas or 0
    since = int(time.time())
    sim.scale(service.id, replicas + 2)
    async with asyncio.timeout(5), event_stream(client, since) as events:
        replayed = await anext(e async for e in events if e.type == "service")
        sim.scale(service.id, 1)  # the stream is open now: this one arrives live
        live = await anext(e async for e in events if e.type == "service")
    assert (replayed.action, replayed.actor_id, replayed.attr("name")) == ("update", service.id, service.name)
    assert (replayed.attr("replicas.old"), replayed.attr("replicas.new")) == (str(replicas), str(replicas + 2))
    assert (live.attr("replicas.old"), live.attr("replicas.new")) == (str(replicas + 2), "1")
    remaining = await client.tasks(service_ids=(service.id,))
    assert [t.slot for t in remaining if t.desired_state == "running"] == [1]


async def test_it_replays_events_from_since_inclusive_up_to_until_and_filters_by_type(sim: Simulator) -> None:
    sim.set_node_availability(sim.node_ids[-1], "drain")
    sim.scale(sim.task(on_node(sim, sim.local_node_id))["ServiceID"], 1)
    until = f"{time.time_ns() / 1e9:.9f}"
    status, body, _ = await raw(f"/v1.41/events?since=0&until={until}", sim.socket_path)
    events = [json.loads(line) for line in body.splitlines()]
    assert status == 200 and [e["Type"] for e in events if e["Type"] != "container"] == ["node", "service"]
    node_event = events[0]
    assert list(node_event) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert node_event["time"] == node_event["timeNano"] // 10**9 and node_event["scope"] == "swarm"
    exact = f"{node_event['time']}.{node_event['timeNano'] % 10**9:09d}"
    only_nodes = filters(type=["node"])
    _, body, _ = await raw(f"/events?since={exact}&until={until}&filters={only_nodes}", sim.socket_path)
    assert [json.loads(line) for line in body.splitlines()] == [node_event]
    later = f"{node_event['time']}.{node_event['timeNano'] % 10**9 + 1:09d}"
    _, body, _ = await raw(f"/events?since={later}&until={until}&filters={only_nodes}", sim.socket_path)
    assert body == ""


async def test_it_sends_container_events_only_for_tasks_on_node_one(sim: Simulator, client: DockerClient) -> None:
    since = int(time.time())
    worker = on_node(sim, sim.node_ids[-1])
    sim.fail_task(worker)
    local = on_node(sim, sim.local_node_id)
    replacement = sim.fail_task(local, exit_code=2)
    died, before = await first_event(client, since, lambda e: e.type == "container")
    assert before == []  # nothing from the worker's failure
    assert died.action == "die" and died.attr("exitCode") == "2"
    assert died.attr("com.docker.swarm.task.id") == local
    assert died.attr("com.docker.swarm.node.id") == sim.local_node_id
    assert died.attr("com.docker.swarm.service.id") == sim.task(local)["ServiceID"]
    assert died.attr("com.docker.swarm.service.name") and died.attr("image")
    assert died.attr("name").endswith("." + local)
    started, _ = await first_event(client, since, lambda e: e.action == "start")
    assert started.attr("com.docker.swarm.task.id") == replacement


async def test_it_churns_tasks_on_node_one_into_container_events() -> None:
    sim = Simulator(nodes=2, tasks=20, managers=1, seed=3, churn=40, step_delay=0.01)
    async with serving(sim) as path, DockerClient(Endpoint(host="unix://" + path)) as client:
        since = int(time.time())
        actions: set[str] = set()
        async with asyncio.timeout(10):
            async for event in client.events(since=since, liveness=5):
                if event is None:
                    continue
                if event.type == "container":
                    assert event.attr("com.docker.swarm.node.id") == sim.local_node_id
                    actions.add(event.action)
                if {"die", "start"} <= actions:
                    break
        failed = [t for t in await client.tasks() if t.state == "failed"]
        assert failed and {t.error for t in failed} == {"task: non-zero exit (1)"}
    assert sim.requests["GET /events"] == 1


async def test_it_marks_a_down_node_and_reschedules_its_replicated_tasks(sim: Simulator, client: DockerClient) -> None:
    worker = sim.node_ids[-1]
    on_worker = {t.id: t for t in await client.tasks(node_ids=(worker,))}
    since = int(time.time())
    sim.set_node_state(worker, "down")
    event, _ = await first_event(client, since, lambda e: e.type == "node")
    assert (event.actor_id, event.attr("state.old"), event.attr("state.new")) == (worker, "ready", "down")
    node = next(n for n in await client.nodes() if n.id == worker)
    assert (node.state, node.message) == ("down", "heartbeat failure")
    stranded = await client.tasks(node_ids=(worker,))
    assert {(t.state, t.desired_state) for t in stranded} == {("running", "shutdown")}
    assert {t.id for t in stranded} == set(on_worker)
    for service in await client.services():
        current = [t for t in await client.tasks(service_ids=(service.id,)) if t.desired_state == "running"]
        assert all(t.node_id != worker and t.state == "running" for t in current)
        assert service.desired_tasks == (5 if service.mode == "global" else service.replicas)
    sim.set_node_state(worker, "ready")
    assert {t.state for t in await client.tasks(node_ids=(worker,)) if t.id in on_worker} == {"shutdown"}


async def test_it_drains_a_node_and_lets_global_tasks_return(sim: Simulator, client: DockerClient) -> None:
    worker = sim.node_ids[-1]
    since = int(time.time())
    sim.set_node_availability(worker, "drain")
    event, _ = await first_event(client, since, lambda e: e.type == "node")
    assert (event.attr("availability.old"), event.attr("availability.new")) == ("active", "drain")
    assert not [t for t in await client.tasks(node_ids=(worker,)) if t.desired_state == "running"]
    sim.set_node_availability(worker, "active")
    back = [t for t in await client.tasks(node_ids=(worker,)) if t.desired_state == "running"]
    assert back and {t.slot for t in back} == {None}  # the global services' tasks, nothing else


async def test_it_rolls_a_service_update_through_every_slot(sim: Simulator, client: DockerClient) -> None:
    service = next(s for s in await client.services() if s.mode == "replicated" and (s.replicas or 0) > 1)
    since = int(time.time())
    sim.update_service(service.id, image="registry.example.com/bench/app:2.0.0")
    states = []
    async with asyncio.timeout(5), event_stream(client, since) as events:
        async for event in events:
            if event.type == "service":
                states.append(event.attr("updatestate.new"))
            if "completed" in states:
                break
    assert states == ["", "updating", "completed"]
    current = [t for t in await client.tasks(service_ids=(service.id,)) if t.desired_state == "running"]
    assert len(current) == service.replicas
    assert {(t.image, t.state) for t in current} == {("registry.example.com/bench/app:2.0.0", "running")}
    updated = (await client.services(ids=(service.id,)))[0]
    assert updated.update_state == "completed"


async def test_it_walks_a_replacement_through_the_task_states() -> None:
    sim = Simulator(nodes=1, tasks=3, managers=1, seed=5, step_delay=0.01)
    async with serving(sim) as path, DockerClient(Endpoint(host="unix://" + path)) as docker:
        since = int(time.time())
        replacement = sim.fail_task(sim.task_ids()[0])
        assert sim.task(replacement)["Status"]["State"] == "new"
        assert "NodeID" not in sim.task(replacement)
        started, _ = await first_event(docker, since, lambda e: e.action == "start")
        assert started.attr("com.docker.swarm.task.id") == replacement
        assert sim.task(replacement)["Status"]["State"] == "running"


async def test_it_counts_requests_by_endpoint(sim: Simulator, client: DockerClient) -> None:
    await client.tasks()
    await client.tasks()
    await raw(f"/v1.41/tasks/{sim.task_ids()[0]}", sim.socket_path)
    assert sim.requests["GET /tasks"] == 2
    assert sim.requests["GET /tasks/{id}"] == 1


async def test_it_ends_open_event_streams_when_stopped() -> None:
    sim = Simulator(nodes=1, tasks=1, managers=1)
    async with serving(sim) as path, DockerClient(Endpoint(host="unix://" + path)) as client:
        since = int(time.time())
        sim.scale(sim.service_ids[0], 2)
        async with asyncio.timeout(5), event_stream(client, since, liveness=30) as events:
            assert (await anext(events)).type == "service"  # replayed, so the stream is subscribed
            await sim.stop()
            with pytest.raises(DaemonUnreachable, match="closed the /events stream"):
                await anext(events)


async def test_it_answers_the_tasks_of_a_large_swarm_within_a_second() -> None:
    sim = Simulator(nodes=500, tasks=20_000, managers=3, seed=1)
    async with (
        serving(sim) as path,
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as session,
    ):
        started = time.perf_counter()
        async with session.get("http://docker/v1.41/tasks") as response:
            body = await response.read()
        elapsed = time.perf_counter() - started
    tasks = json.loads(body)
    assert len(tasks) == 20_000 and len({t["NodeID"] for t in tasks}) == 500
    assert elapsed < 1.0, f"GET /tasks took {elapsed:.2f}s for {len(body) / 1e6:.1f} MB"


async def test_it_runs_as_a_command_until_terminated() -> None:
    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    path = f"{folder}/docker.sock"
    command = [sys.executable, "-m", "bench.simulator", "--socket", path, "--nodes", "3", "--tasks", "9"]
    proc = await asyncio.create_subprocess_exec(*command, "--seconds", "60", cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            line = await proc.stderr.readline()
            assert b"serving 3 nodes" in line
            status, text, _ = await raw("/_ping", path)
            assert (status, text) == (200, "OK")
            proc.send_signal(signal.SIGTERM)
            rest = await proc.stderr.read()
            assert await proc.wait() == 0
        assert b"GET /_ping" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


# --- engine profiles ----------------------------------------------------------------------------------

TOO_OLD = (
    "client version {} is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version"
)


@pytest.fixture
async def sim29() -> AsyncIterator[Simulator]:
    simulator = Simulator(nodes=3, tasks=12, managers=1, seed=7, step_delay=0, engine="29", log_interval=0.05)
    async with serving(simulator):
        yield simulator


async def call(
    socket_path: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    """Any request: status, headers and the raw body (``body`` goes as JSON unless it is bytes)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as session,
        session.request(method, "http://docker" + path, data=data, headers=headers or {}) as response,
    ):
        return response.status, response.headers, await response.read()


def frames(body: bytes) -> list[tuple[int, str]]:
    """Docker's multiplexed stream: 8-byte headers (stream, 0, 0, 0, big-endian size), then the payload."""
    out = []
    while body:
        assert len(body) >= 8 and body[1:4] == b"\0\0\0", f"not a frame header: {body[:8]!r}"
        size = int.from_bytes(body[4:8], "big")
        out.append((body[0], body[8 : 8 + size].decode()))
        body = body[8 + size :]
    return out


def now() -> str:
    """Now as /events takes ``since`` and ``until``: seconds with nine decimals."""
    return f"{time.time_ns() / 1e9:.9f}"


def past_events(version: str = "") -> str:
    return f"{version}/events?since=0&until={now()}"


async def settled(check: Callable[[], bool], timeout: float = 5) -> None:
    """Poll ``check`` until it holds; bounded."""
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


async def test_it_refuses_clients_below_api_1_44_on_engine_29_with_dockers_message(sim29: Simulator) -> None:
    for path in ("/v1.41/version", "/v1.41/_ping", "/v1.43/nodes", "/v1.41/tasks"):
        status, headers, body = await call(sim29.socket_path, "GET", path)
        version = path.split("/")[1][1:]
        assert (status, json.loads(body)) == (400, {"message": TOO_OLD.format(version)}), path
        assert headers["Content-Type"] == "application/json"
        assert (headers["Api-Version"], headers["Server"]) == ("1.52", "Docker/29.0.2 (linux)")
    status, _, body = await call(sim29.socket_path, "GET", "/v1.53/info")
    assert (status, json.loads(body)) == (
        400,
        {"message": "client version 1.53 is too new. Maximum supported API version is 1.52"},
    )
    status, headers, body = await call(sim29.socket_path, "GET", "/v1.20/info")  # below 1.24: plain text, as http.Error
    assert (status, headers["Content-Type"], body) == (
        400,
        "text/plain; charset=utf-8",
        TOO_OLD.format("1.20").encode() + b"\n",
    )


async def test_it_answers_unversioned_version_and_ping_on_engine_29(sim29: Simulator) -> None:
    status, headers, body = await call(sim29.socket_path, "GET", "/_ping")
    assert (status, body, headers["Api-Version"], headers["Swarm"], headers["Builder-Version"]) == (
        200,
        b"OK",
        "1.52",
        "active/manager",
        "2",
    )
    status, _, body = await call(sim29.socket_path, "GET", "/version")
    version = json.loads(body)
    assert status == 200
    assert (version["ApiVersion"], version["MinAPIVersion"], version["Version"]) == ("1.52", "1.44", "29.0.2")
    assert list(version)[:7] == ["Platform", "Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "Components"]
    engine = version["Components"][0]
    assert (engine["Name"], engine["Details"]["GoVersion"], engine["Details"]["MinAPIVersion"]) == (
        "Engine",
        "go1.25.4",
        "1.44",
    )
    assert [c["Name"] for c in version["Components"]] == ["Engine", "containerd", "runc", "docker-init"]
    for path in ("/v1.44/nodes", "/v1.52/nodes", "/nodes"):
        status, _, body = await call(sim29.socket_path, "GET", path)
        assert status == 200 and len(json.loads(body)) == 3, path


@pytest.mark.parametrize(("engine", "expected"), [("20.10", "1.41"), ("29", "1.52")])
async def test_it_lets_a_client_negotiate_as_the_docker_cli_does(engine: str, expected: str) -> None:
    sim = Simulator(nodes=2, tasks=4, managers=1, engine=engine, step_delay=0)
    async with serving(sim) as path:
        _, _, body = await call(path, "GET", "/version")
        offered = json.loads(body)["ApiVersion"]
        chosen = min((1, 52), tuple(int(p) for p in offered.split(".")))
        assert ".".join(map(str, chosen)) == expected
        status, _, body = await call(path, "GET", f"/v{expected}/info")
        assert status == 200 and json.loads(body)["Swarm"]["ControlAvailable"] is True


async def test_it_reports_engine_29_in_info_and_nodes(sim29: Simulator) -> None:
    _, _, body = await call(sim29.socket_path, "GET", "/v1.52/info")
    info = json.loads(body)
    assert (info["ServerVersion"], info["Driver"]) == ("29.0.2", "overlayfs")
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", info["ID"])  # engine-id: a UUID
    assert info["CDISpecDirs"] == [] and info["Containerd"]["Namespaces"]["Containers"] == "moby"
    assert info["FirewallBackend"] == {"Driver": "iptables"} and "KernelMemoryTCP" not in info
    _, _, body = await call(sim29.socket_path, "GET", "/v1.45/info")
    older = json.loads(body)
    assert "Containerd" not in older and "FirewallBackend" not in older and older["CDISpecDirs"] == []
    _, _, body = await call(sim29.socket_path, "GET", "/v1.52/nodes")
    node = json.loads(body)[0]["Description"]["Engine"]
    assert node["EngineVersion"] == "29.0.2"
    assert {"Type": "Log", "Name": "logentries"} not in node["Plugins"]


async def test_it_keeps_the_20_10_answers(sim: Simulator) -> None:
    status, headers, body = await call(sim.socket_path, "GET", "/_ping")
    assert (status, headers["Api-Version"], headers["Server"], "Swarm" in headers) == (
        200,
        "1.41",
        "Docker/20.10.24 (linux)",
        False,
    )
    version = json.loads((await call(sim.socket_path, "GET", "/version"))[2])
    assert (version["ApiVersion"], version["MinAPIVersion"], version["Version"]) == ("1.41", "1.12", "20.10.24")
    info = json.loads((await call(sim.socket_path, "GET", "/v1.41/info"))[2])
    assert "CDISpecDirs" not in info and info["Driver"] == "overlay2"
    status, _, body = await call(sim.socket_path, "GET", "/v1.11/version")
    assert status == 400 and body.startswith(
        b"client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade"
    )
    assert (await call(sim.socket_path, "GET", "/v1.41/tasks?filters=" + filters(bogus=["x"])))[
        2
    ] == b'{"message":"Invalid filter \'bogus\'"}\n'


async def test_it_drops_the_deprecated_event_fields_at_api_1_52(sim29: Simulator) -> None:
    sim29.fail_task(on_node(sim29, sim29.local_node_id), exit_code=2)
    sim29.scale(sim29.service_ids[0], 1)
    only = "&filters=" + filters(type=["container", "service"])
    status, headers, body = await call(
        sim29.socket_path, "GET", past_events("/v1.52") + only, headers={"Accept": "*/*"}
    )
    assert (status, headers["Content-Type"]) == (200, "application/x-ndjson")
    current = [json.loads(line) for line in body.splitlines()]
    died = next(e for e in current if e["Action"] == "die")
    assert list(died) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert not {"status", "id", "from"} & {key for event in current for key in event}
    asks_json = {"Accept": "application/json"}  # neither of the two offers: the default
    _, headers, body = await call(sim29.socket_path, "GET", past_events("/v1.51") + only, headers=asks_json)
    assert headers["Content-Type"] == "application/json"
    older = [json.loads(line) for line in body.splitlines()]
    died = next(e for e in older if e["Action"] == "die")
    assert (died["status"], died["id"], died["from"]) == (
        "die",
        died["Actor"]["ID"],
        died["Actor"]["Attributes"]["image"],
    )
    assert list(died) == sorted(died)  # merged back through a Go map: sorted keys
    service = next(e for e in older if e["Type"] == "service")
    assert "status" not in service and next(iter(service)) == "Type"
    _, headers, body = await call(
        sim29.socket_path, "GET", past_events() + only, headers={"Accept": "application/json-seq"}
    )
    assert headers["Content-Type"] == "application/json-seq"
    assert body.startswith(b"\x1e{") and body.count(b"\x1e") == len(current)


async def test_it_keeps_the_legacy_event_fields_first_on_engine_20_10(sim: Simulator) -> None:
    sim.fail_task(on_node(sim, sim.local_node_id), exit_code=2)
    _, headers, body = await call(sim.socket_path, "GET", past_events("/v1.41"), headers={"Accept": "*/*"})
    assert headers["Content-Type"] == "application/json"
    died = next(json.loads(line) for line in body.splitlines() if b'"die"' in line)
    assert list(died)[:4] == ["status", "id", "from", "Type"] and died["status"] == "die"


# --- secrets and configs ----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["20.10", "29"])
async def test_it_creates_lists_and_inspects_secrets_without_ever_showing_their_data(engine: str) -> None:
    sim = Simulator(nodes=2, tasks=4, managers=1, engine=engine, step_delay=0)
    async with serving(sim) as path:
        data = base64.b64encode(b"hunter2").decode()
        status, _, body = await call(
            path, "POST", "/secrets/create", {"Name": "db_password", "Labels": {"app": "shop"}, "Data": data}
        )
        assert status == 201 and list(json.loads(body)) == ["ID"]
        created = json.loads(body)["ID"]
        other = sim.create_secret("api_key", b"k3y")
        _, _, body = await call(path, "GET", "/secrets")
        listed = json.loads(body)
        assert sorted(s["Spec"]["Name"] for s in listed) == ["api_key", "db_password"]
        assert b"hunter2" not in body and data.encode() not in body and all("Data" not in s["Spec"] for s in listed)
        mine = next(s for s in listed if s["ID"] == created)
        assert list(mine) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec"]
        assert mine["Spec"] == {"Name": "db_password", "Labels": {"app": "shop"}}
        for wanted, expected in (
            (filters(name=["db"]), [created]),
            (filters(names=["api_key"]), [other]),
            (filters(id=[other[:6]]), [other]),
            (filters(label=["app=shop"]), [created]),
        ):
            assert [s["ID"] for s in json.loads((await call(path, "GET", "/secrets?filters=" + wanted))[2])] == expected
        for ref in (created, "db_password", created[:8]):
            status, _, body = await call(path, "GET", f"/v{sim.profile.api}/secrets/{ref}")
            assert (status, json.loads(body)) == (200, mine)
        status, _, body = await call(path, "GET", "/secrets/nope")
        assert (status, json.loads(body)) == (404, {"message": "secret nope not found"})


async def test_it_refuses_a_duplicate_or_malformed_secret_as_swarm_does(sim29: Simulator) -> None:
    sim29.create_secret("token", b"one")
    path = sim29.socket_path
    duplicate = {"Name": "token", "Data": base64.b64encode(b"two").decode()}
    status, _, body = await call(path, "POST", "/secrets/create", duplicate)
    assert (status, json.loads(body)) == (
        409,
        {"message": "rpc error: code = AlreadyExists desc = secret token already exists"},
    )
    status, _, body = await call(path, "POST", "/secrets/create", {"Name": "bad name", "Data": "eA=="})
    assert status == 400 and "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed" in json.loads(body)["message"]
    status, _, body = await call(path, "POST", "/secrets/create", {"Name": "empty"})
    message = "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"
    assert (status, json.loads(body)) == (400, {"message": message})
    assert [s["Spec"]["Name"] for s in json.loads((await call(path, "GET", "/secrets"))[2])] == ["token"]


async def test_it_refuses_to_remove_a_secret_a_service_uses(sim: Simulator) -> None:
    secret = sim.create_secret("db_password", b"hunter2")
    service = sim.create_service("shop_api", replicas=2, secrets=["db_password"])
    since = now()
    status, _, body = await call(sim.socket_path, "DELETE", f"/secrets/{secret}")
    message = (
        "rpc error: code = InvalidArgument desc = secret 'db_password' is in use by the following service: shop_api"
    )
    assert (status, json.loads(body)) == (400, {"message": message})
    sim.remove_service(service)
    status, _, body = await call(sim.socket_path, "DELETE", f"/v1.41/secrets/{secret}")
    assert (status, body) == (204, b"")
    assert (await call(sim.socket_path, "GET", f"/secrets/{secret}"))[0] == 404
    _, _, body = await call(
        sim.socket_path, "GET", f"/events?since={since}&until={now()}&filters=" + filters(type=["secret"])
    )
    assert [(e["Action"], e["Actor"]["ID"]) for e in map(json.loads, body.splitlines())] == [("remove", secret)]


async def test_it_serves_configs_with_their_data(sim29: Simulator) -> None:
    path = sim29.socket_path
    status, _, body = await call(
        path, "POST", "/v1.52/configs/create", {"Name": "nginx.conf", "Data": base64.b64encode(b"worker 1;\n").decode()}
    )
    assert status == 201
    config = json.loads(body)["ID"]
    _, _, body = await call(path, "GET", f"/configs/{config}")
    assert base64.b64decode(json.loads(body)["Spec"]["Data"]) == b"worker 1;\n"
    assert [
        c["ID"] for c in json.loads((await call(path, "GET", "/configs?filters=" + filters(name=["nginx"])))[2])
    ] == [config]
    status, _, body = await call(path, "GET", "/configs?filters=" + filters(names=["x"]))
    assert (status, json.loads(body)) == (400, {"message": "invalid filter 'names'"})  # configs take no "names"
    status, _, _ = await call(path, "POST", "/configs/create", {"Name": "nginx.conf", "Data": "eA=="})
    assert status == 409


# --- service updates --------------------------------------------------------------------------------


def _rotated(sim: Simulator, service_id: str, new_id: str, new_name: str) -> tuple[int, dict[str, Any]]:
    """What a client sends to swap a service's secret: the current spec, edited, with the current version."""
    current = sim.service(service_id)
    spec = current["Spec"]
    ref = spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    ref["SecretID"], ref["SecretName"] = new_id, new_name
    return current["Version"]["Index"], spec


@pytest.mark.parametrize("engine", ["20.10", "29"])
async def test_it_rotates_a_secret_through_a_service_update(engine: str) -> None:
    sim = Simulator(nodes=3, tasks=6, managers=1, engine=engine, step_delay=0.01)
    async with serving(sim) as path:
        old = sim.create_secret("db_password", b"hunter2")
        service = sim.create_service("shop_api", replicas=3, secrets=["db_password"])
        await settled(lambda: len(sim.task_ids(service_id=service, state="running")) == 3)
        before = {sim.task(t)["Slot"]: t for t in sim.task_ids(service_id=service)}
        new = sim.create_secret("db_password_v2", b"correct horse")
        version, spec = _rotated(sim, service, new, "db_password_v2")
        since = now()
        status, _, body = await call(path, "POST", f"/services/{service}/update?version={version}", spec)
        assert (status, json.loads(body)) == (200, {"Warnings": None})
        shown = sim.service(service)
        assert "UpdateStatus" not in shown  # reset by the update; the updater sets it a moment later
        assert shown["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == new
        assert shown["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == old
        assert shown["Version"]["Index"] > version
        await settled(lambda: sim.service(service).get("UpdateStatus", {}).get("State") == "completed")
        tasks = [sim.task(t) for t in sim.task_ids(service_id=service)]
        current = [t for t in tasks if t["DesiredState"] == "running"]
        assert sorted(t["Slot"] for t in current) == [1, 2, 3]
        assert {t["Spec"]["ContainerSpec"]["Secrets"][0]["SecretName"] for t in current} == {"db_password_v2"}
        assert {t["Status"]["State"] for t in current} == {"running"}
        assert {sim.task(t)["Status"]["State"] for t in before.values()} == {"shutdown"}
        assert not set(before.values()) & {t["ID"] for t in current}
        _, _, body = await call(
            path, "GET", f"/events?since={since}&until={now()}&filters=" + filters(type=["service"])
        )
        states = [json.loads(line)["Actor"]["Attributes"].get("updatestate.new", "") for line in body.splitlines()]
        assert states == ["", "updating", "completed"]
        status, _, body = await call(path, "DELETE", f"/secrets/{old}")  # nothing uses it any more
        assert status == 204


async def test_it_refuses_an_update_out_of_sequence_or_naming_a_missing_secret(sim: Simulator) -> None:
    sim.create_secret("db_password", b"hunter2")
    service = sim.create_service("shop_api", secrets=["db_password"])
    version, spec = _rotated(sim, service, sim.create_secret("v2", b"x"), "v2")
    status, _, body = await call(sim.socket_path, "POST", f"/services/{service}/update?version={version - 1}", spec)
    assert (status, json.loads(body)) == (500, {"message": "rpc error: code = Unknown desc = update out of sequence"})
    _, missing = _rotated(sim, service, "nosuchsecret0000000000000", "ghost")
    status, _, body = await call(sim.socket_path, "POST", f"/services/{service}/update?version={version}", missing)
    assert (status, json.loads(body)) == (
        400,
        {"message": "rpc error: code = InvalidArgument desc = secret not found: ghost"},
    )
    status, _, body = await call(sim.socket_path, "POST", f"/services/{service}/update", spec)
    message = "invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax"
    assert (status, json.loads(body)) == (400, {"message": message})
    assert sim.service(service)["Version"]["Index"] == version  # nothing changed


async def test_it_scales_through_an_update_without_rolling_the_tasks(sim: Simulator) -> None:
    service = sim.create_service("web", replicas=2)
    first = set(sim.task_ids(service_id=service))
    current = sim.service(service)
    current["Spec"]["Mode"]["Replicated"]["Replicas"] = 4
    status, _, _ = await call(
        sim.socket_path, "POST", f"/services/{service}/update?version={current['Version']['Index']}", current["Spec"]
    )
    assert status == 200
    running = set(sim.task_ids(service_id=service, desired_state="running"))
    assert first < running and len(running) == 4 and "UpdateStatus" not in sim.service(service)


# --- task logs ----------------------------------------------------------------------------------------


async def test_it_multiplexes_task_logs_with_timestamps_tail_and_since(sim29: Simulator) -> None:
    task = on_node(sim29, sim29.node_ids[1])
    path = sim29.socket_path
    status, headers, body = await call(path, "GET", f"/v1.52/tasks/{task}/logs?stdout=1&stderr=1")
    assert (status, headers["Content-Type"]) == (200, "application/vnd.docker.multiplexed-stream")
    lines = frames(body)
    assert len(lines) >= 3 and {stream for stream, _ in lines} == {1, 2}
    assert all(text.endswith("\n") for _, text in lines) and task in lines[0][1]  # the first line names its task
    _, _, body = await call(path, "GET", f"/tasks/{task}/logs?stdout=1&stderr=1&tail=2&timestamps=1")
    tailed = frames(body)
    assert [text.split(" ", 1)[1] for _, text in tailed] == [text for _, text in lines[-2:]]
    stamp = tailed[0][1].split(" ", 1)[0]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", stamp)
    _, _, body = await call(path, "GET", f"/tasks/{task}/logs?stderr=1")
    assert {stream for stream, _ in frames(body)} == {2}
    assert frames((await call(path, "GET", f"/tasks/{task}/logs?stdout=1&stderr=1&tail=0"))[2]) == []
    assert frames((await call(path, "GET", f"/tasks/{task}/logs?stdout=1&since={int(time.time()) + 60}"))[2]) == []
    _, _, body = await call(path, "GET", f"/tasks/{task}/logs?stdout=1&tail=1&details=1")
    assert frames(body)[0][1].startswith(f"com.docker.swarm.node.id={sim29.node_ids[1]},com.docker.swarm.service.id=")


async def test_it_refuses_task_logs_without_a_stream_or_with_a_bad_tail(sim: Simulator) -> None:
    task = sim.task_ids(state="running")[0]
    status, _, body = await call(sim.socket_path, "GET", f"/tasks/{task}/logs")
    assert (status, json.loads(body)) == (500, {"message": "Bad parameters: you must choose at least one stream"})
    status, _, body = await call(sim.socket_path, "GET", f"/tasks/{task}/logs?stdout=1&tail=x")
    assert (status, json.loads(body)) == (500, {"message": 'tail value must be a positive integer or "all"'})
    assert (await call(sim.socket_path, "GET", "/tasks/nope/logs?stdout=1"))[0] == 404


async def test_it_follows_a_task_log_with_a_new_line_every_interval(sim29: Simulator) -> None:
    task = on_node(sim29, sim29.local_node_id)
    url = f"http://docker/tasks/{task}/logs?stdout=1&stderr=1&follow=1&tail=0"
    connector = aiohttp.UnixConnector(path=sim29.socket_path)
    async with aiohttp.ClientSession(connector=connector) as session, asyncio.timeout(5):
        async with session.get(url) as one, session.get(url) as two:
            assert one.status == two.status == 200  # headers come at once, before any line
            seen = [await one.content.readexactly(8), await two.content.readexactly(8)]
            first = [await one.content.readexactly(int.from_bytes(seen[0][4:], "big"))]
            first.append(await two.content.readexactly(int.from_bytes(seen[1][4:], "big")))
            assert first[0] == first[1]  # one writer per task: both followers get the same line
            header = await one.content.readexactly(8)
            second = await one.content.readexactly(int.from_bytes(header[4:], "big"))
    assert first[0] != second and b"handled request" in first[0] + second


async def test_it_sends_raw_logs_for_a_service_with_a_tty(sim29: Simulator) -> None:
    service = sim29.task(sim29.task_ids(state="running")[0])["ServiceID"]
    sim29.set_tty(service)
    task = sim29.task_ids(service_id=service, state="running", desired_state="running")[0]
    assert sim29.task(task)["Spec"]["ContainerSpec"]["TTY"] is True
    status, headers, body = await call(sim29.socket_path, "GET", f"/tasks/{task}/logs?stdout=1&stderr=1")
    assert (status, headers["Content-Type"]) == (200, "application/vnd.docker.raw-stream")
    assert body.count(b"\r\n") >= 3 and body[0] != 1 and b"\0\0\0" not in body


async def test_it_says_why_a_task_that_never_ran_has_no_log(sim: Simulator) -> None:
    service = sim.create_service("web", constraints=["node.labels.zone==nowhere"])
    pending = sim.task_ids(service_id=service, desired_state="running")[0]
    status = sim.task(pending)["Status"]
    assert (status["State"], status["Err"]) == (
        "pending",
        "no suitable node (scheduling constraints not satisfied on 6 nodes)",
    )
    assert "NodeID" not in sim.task(pending)
    _, _, body = await call(sim.socket_path, "GET", f"/tasks/{pending}/logs?stdout=1&stderr=1")
    reason = f"task {pending} has not been scheduled"
    assert frames(body) == [
        (
            3,
            "Error grabbing logs: rpc error: code = Unknown desc = warning: incomplete log stream. some logs "
            f"could not be retrieved for the following reasons: {reason}\n",
        )
    ]


# --- containers on node 1 ---------------------------------------------------------------------------


async def test_it_inspects_the_containers_of_node_one_only(sim: Simulator) -> None:
    local = sim.task(on_node(sim, sim.local_node_id))
    container = local["Status"]["ContainerStatus"]["ContainerID"]
    status, _, body = await call(sim.socket_path, "GET", f"/v1.41/containers/{container}/json")
    doc = json.loads(body)
    assert status == 200 and doc["Id"] == container and doc["State"]["Running"] is True
    assert doc["Config"]["Labels"]["com.docker.swarm.task.id"] == local["ID"] and "Health" not in doc["State"]
    assert doc["NetworkSettings"]["IPAddress"] == doc["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    by_name = json.loads((await call(sim.socket_path, "GET", f"/containers/{doc['Name'][1:]}/json"))[2])
    assert by_name["Id"] == container
    remote = sim.task(on_node(sim, sim.node_ids[-1]))["Status"]["ContainerStatus"]["ContainerID"]
    status, _, body = await call(sim.socket_path, "GET", f"/containers/{remote}/json")
    assert (status, json.loads(body)) == (404, {"message": f"No such container: {remote}"})


async def test_it_reports_container_health_when_the_service_has_a_healthcheck() -> None:
    sim = Simulator(nodes=1, tasks=1, managers=1, engine="29", step_delay=0)
    async with serving(sim) as path:
        service = sim.create_service("api", replicas=1, healthcheck=True)
        task = sim.task(sim.task_ids(service_id=service, state="running")[0])
        container = task["Status"]["ContainerStatus"]["ContainerID"]
        health = json.loads((await call(path, "GET", f"/containers/{container}/json"))[2])["State"]["Health"]
        assert (health["Status"], health["Log"]) == ("starting", [])
        since = now()
        sim.set_health(task["ID"], "unhealthy", "connection refused")
        health = json.loads((await call(path, "GET", f"/containers/{container}/json"))[2])["State"]["Health"]
        assert (health["Status"], health["FailingStreak"]) == ("unhealthy", 1)
        assert health["Log"][-1]["Output"] == "connection refused" and health["Log"][-1]["ExitCode"] == 1
        _, _, body = await call(path, "GET", f"/events?since={since}&until={now()}")
        assert [json.loads(line)["Action"] for line in body.splitlines()] == ["health_status: unhealthy"]


async def test_it_writes_engine_29_containers_by_api_version(sim29: Simulator) -> None:
    container = sim29.task(on_node(sim29, sim29.local_node_id))["Status"]["ContainerStatus"]["ContainerID"]
    current = json.loads((await call(sim29.socket_path, "GET", f"/v1.52/containers/{container}/json"))[2])
    assert list(current["NetworkSettings"]) == ["SandboxID", "SandboxKey", "Ports", "Networks"]
    assert "GraphDriver" not in current and current["Storage"] == {"RootFS": {"Snapshot": {"Name": "overlayfs"}}}
    assert "KernelMemoryTCP" not in current["HostConfig"] and "OnBuild" not in current["Config"]
    assert current["ImageManifestDescriptor"]["digest"].startswith("sha256:")
    older = json.loads((await call(sim29.socket_path, "GET", f"/v1.47/containers/{container}/json"))[2])
    assert older["NetworkSettings"]["IPAddress"] == current["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert older["GraphDriver"]["Name"] == "overlayfs" and "Storage" not in older
    assert "ImageManifestDescriptor" not in older and list(older) == sorted(older)


async def test_it_runs_engine_29_as_a_command() -> None:
    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    path = f"{folder}/docker.sock"
    command = [sys.executable, "-m", "bench.simulator", "--socket", path, "--nodes", "2", "--tasks", "4"]
    command += ["--managers", "1", "--engine", "29", "--seconds", "30"]
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            assert b"as Engine 29.0.2 (API 1.52" in await proc.stderr.readline()
            status, _, body = await call(path, "GET", "/v1.41/info")
            assert (status, json.loads(body)["message"]) == (400, TOO_OLD.format("1.41"))
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def test_it_lets_the_dashboards_client_negotiate_and_rotate_a_secret_on_engine_29(sim29: Simulator) -> None:
    old = sim29.create_secret("db_password", b"hunter2")
    service = sim29.create_service("shop_api", replicas=2, secrets=["db_password"])
    async with DockerClient(Endpoint(host="unix://" + sim29.socket_path)) as docker:
        assert (await docker.check_manager())["ServerVersion"] == "29.0.2"
        assert docker.api_version == "1.52"
        new = await docker.create_secret("db_password_v2", {}, b"correct horse")
        assert await docker.swap_service_secret(service, old, new, "db_password_v2") == 1
        await settled(lambda: sim29.service(service).get("UpdateStatus", {}).get("State") == "completed")
        running = [sim29.task(t) for t in sim29.task_ids(service_id=service, desired_state="running")]
        assert {t["Spec"]["ContainerSpec"]["Secrets"][0]["SecretID"] for t in running} == {new}
        await docker.remove_secret(old)
        assert [s.name for s in await docker.secrets()] == ["db_password_v2"]
    assert sim29.requests["POST /services/{id}/update"] == 1
