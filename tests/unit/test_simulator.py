"""bench.simulator answers like a swarm manager: the dashboard's own client reads it without a difference."""

from __future__ import annotations

import asyncio
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
from dashboard.docker_client import DaemonUnreachable, DockerClient, Endpoint, Event

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
