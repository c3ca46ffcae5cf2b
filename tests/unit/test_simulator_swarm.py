"""bench.simulator answers like a swarm manager: the dashboard's own client reads it without a difference."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter

import aiohttp

from bench.simulator import Simulator
from dashboard.core.docker import DockerClient
from tests.unit import simulator_helpers
from tests.unit.simulator_helpers import ROOT, filters, raw, serving

# the simulators these tests run against: pytest fixtures shared in simulator_helpers
sim, client = simulator_helpers.sim, simulator_helpers.client


SWARM_ID = re.compile(r"^[0-9a-z]{25}$")


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


async def test_it_counts_requests_by_endpoint(sim: Simulator, client: DockerClient) -> None:
    await client.tasks()
    await client.tasks()
    await raw(f"/v1.41/tasks/{sim.task_ids()[0]}", sim.socket_path)
    assert sim.requests["GET /tasks"] == 2
    assert sim.requests["GET /tasks/{id}"] == 1


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
