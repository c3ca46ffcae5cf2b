"""The live path against Docker Engine 29 (API 1.52, refusing clients below 1.44), as the simulator's
engine-29 profile answers it: the version is negotiated, and the model follows every change a manager
sees within 2 s at the production reconcile period. The same scenarios run on the real 20.10 lab in
test_watcher.py; the simulator is not the only proof, but the only Docker 29 on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bench.simulator import Simulator
from dashboard.core.docker import DockerAPIError, DockerClient, Endpoint
from dashboard.core.watch import Watcher
from tests.integration.swarmtruth import ACTIVE
from tests.integration.test_watcher import PRODUCTION, watching_with


@pytest.fixture
async def sim29() -> AsyncIterator[Simulator]:
    sim = Simulator(nodes=4, tasks=24, managers=1, seed=29, step_delay=0.05, engine="29", log_interval=0.1)
    folder = tempfile.mkdtemp(prefix="sim29-", dir="/tmp")
    await sim.start(f"{folder}/docker.sock")
    try:
        yield sim
    finally:
        await sim.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def watching29(sim: Simulator) -> AsyncIterator[Watcher]:
    def factory() -> DockerClient:
        return DockerClient(Endpoint(host=f"unix://{sim.socket_path}"), request_timeout=3)

    async with watching_with(factory, PRODUCTION) as watcher:
        yield watcher


async def get(sim: Simulator, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sim.socket_path)) as session:
        async with session.get(f"http://docker{path}") as answer:
            return answer.status, await answer.json(content_type=None)


async def truth(sim: Simulator) -> dict[str, Any]:
    """What the engine says, through API 1.52, with a down node's active tasks called orphaned."""
    nodes, services, tasks = [(await get(sim, f"/v1.52/{kind}"))[1] for kind in ("nodes", "services", "tasks")]
    down = {n["ID"] for n in nodes if n["Status"]["State"] in ("down", "disconnected")}
    known = {s["ID"] for s in services}
    return {
        "nodes": {n["ID"]: (n["Status"]["State"], n["Spec"]["Availability"]) for n in nodes},
        "services": {
            s["ID"]: (s["Spec"]["Name"], s["Spec"]["Mode"].get("Replicated", {}).get("Replicas")) for s in services
        },
        "tasks": {
            t["ID"]: (
                t["ServiceID"], t.get("NodeID", ""), t["DesiredState"],
                "orphaned" if t.get("NodeID") in down and t["Status"]["State"] in ACTIVE else t["Status"]["State"],
            )
            for t in tasks
            if t["ServiceID"] in known
        },
    }  # fmt: skip


def model(watcher: Watcher) -> dict[str, Any]:
    snap = watcher.snapshot
    return {
        "nodes": {n.id: (n.state, n.availability) for n in snap.nodes.values()},
        "services": {s.id: (s.name, s.replicas) for s in snap.services.values()},
        "tasks": {
            t.id: (t.service_id, t.node_id, t.desired_state, "orphaned" if t.orphaned else t.state)
            for t in snap.tasks.values()
        },
    }


async def matches(sim: Simulator, watcher: Watcher, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while True:
        expected, mine = await truth(sim), model(watcher)
        if expected == mine:
            return
        if time.monotonic() > deadline:
            diff = {k: {i for i in expected[k].keys() ^ mine[k].keys()} for k in expected}
            raise AssertionError(f"model differs from engine 29 after {within}s: {json.dumps(diff, default=list)}")
        await asyncio.sleep(0.05)


async def engine_reaches(sim: Simulator, check: Callable[[dict[str, Any]], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if check(await truth(sim)):
                return
            await asyncio.sleep(0.05)


async def test_engine_29_refuses_the_version_we_used_to_pin(sim29: Simulator) -> None:
    status, body = await get(sim29, "/v1.41/nodes")
    assert status == 400 and "Minimum supported API version is 1.44" in body["message"]


async def test_it_negotiates_api_1_52_and_follows_a_service_through_its_life(sim29: Simulator) -> None:
    async with watching29(sim29) as watcher:
        assert watcher.snapshot.status.state == "live"
        await matches(sim29, watcher)
        service_id = sim29.create_service("shop_api", replicas=2)
        await engine_reaches(sim29, lambda d: sum(1 for t in d["tasks"].values() if t[0] == service_id) == 2)
        await matches(sim29, watcher)
        sim29.scale(service_id, 5)
        await engine_reaches(
            sim29, lambda d: sum(1 for t in d["tasks"].values() if t[0] == service_id and t[3] == "running") == 5
        )
        await matches(sim29, watcher)
        sim29.update_service(service_id, image="registry.example.com/shop/api:2")
        await engine_reaches(sim29, lambda d: all(t[3] in ("running", "shutdown") for t in d["tasks"].values()))
        await matches(sim29, watcher)
        sim29.remove_service(service_id)
        await watcher.wait_for(lambda s: service_id not in s.services, 2)
        await matches(sim29, watcher)
        assert not [t for t in watcher.snapshot.tasks.values() if t.service_id == service_id]


async def test_it_calls_the_tasks_of_a_down_node_orphaned_on_engine_29(sim29: Simulator) -> None:
    async with watching29(sim29) as watcher:
        worker = next(n for n in sim29.node_ids if n != sim29.local_node_id)
        sim29.set_node_state(worker, "down")
        await engine_reaches(sim29, lambda d: d["nodes"][worker][0] == "down")
        await matches(sim29, watcher)
        sim29.set_node_state(worker, "ready")
        await engine_reaches(sim29, lambda d: d["nodes"][worker][0] == "ready")
        await matches(sim29, watcher)


async def test_task_details_logs_and_secrets_work_on_engine_29(sim29: Simulator) -> None:
    async with watching29(sim29) as watcher, DockerClient(Endpoint(host=f"unix://{sim29.socket_path}")) as client:
        task = next(t for t in watcher.snapshot.tasks.values() if t.state == "running")
        detail, inspect = await client.task_detail(
            task.id, service_tasks=lambda s: [t for t in watcher.snapshot.tasks.values() if t.service_id == s]
        )
        assert detail.task.id == task.id and inspect["ID"] == task.id
        lines = [line async for line in client.task_logs(task.id, follow=False, tail=5)]
        assert lines and all(line.ts for line in lines)
        new = await client.create_secret("api_token", {"team": "core"}, b"value-never-shown")
        watcher.poke(secrets=True)
        await watcher.wait_for(lambda s: new in s.secrets, 2)
        with pytest.raises(DockerAPIError) as refused:
            await client.create_secret("api_token", {}, b"again")
        assert refused.value.status == 409
        assert client.api_version == "1.52" and client.engine_version.startswith("29.")
