"""bench.simulator serves the containers of node 1, as a manager's daemon does: inspection and health."""

from __future__ import annotations

import json

from bench.simulator import Simulator
from tests.unit import simulator_helpers
from tests.unit.simulator_helpers import call, now, on_node, serving

# the simulators these tests run against: pytest fixtures shared in simulator_helpers
sim, sim29 = simulator_helpers.sim, simulator_helpers.sim29


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
