"""bench.simulator speaks Docker's JSON: every key it sends, a real 20.10 daemon sends too.

The same story plays on the lab and on the simulator - a node drained and reactivated, a published
replicated service with labels and env, a global service, a crashing one, a scale, a rolling update -
then the recursive key structure (with the type of every leaf) of nodes, services, tasks and events
is compared. Keys under Labels and event Attributes are data, not shape: attributes are compared
on their own.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from typing import Any

import aiohttp

from bench.simulator import Simulator
from tests.integration.jsonshape import shapes
from tests.lab import Lab, Swarm, wait_until

EVENT_TYPES = ("container", "service", "node")
STACK_LABELS = "com.docker.stack."

# what Docker omits when empty (Go's omitempty) or what only the lab's setup produces
OPTIONAL = {
    "node": {"Description.Engine.Labels:dict"},  # the lab labels its engines; the simulator's have none
    "service": set(),
    "task": set(),
    "event": set(),
}

# what dashboard/core/domain.py and dashboard/core/docker/ read
READ_BY_THE_DASHBOARD = {
    "node": {
        "ID:str",
        "Spec.Role:str",
        "Spec.Availability:str",
        "Spec.Labels:dict",
        "Description.Hostname:str",
        "Description.Platform.OS:str",
        "Description.Platform.Architecture:str",
        "Description.Resources.NanoCPUs:int",
        "Description.Resources.MemoryBytes:int",
        "Description.Engine.EngineVersion:str",
        "Status.State:str",
        "Status.Addr:str",
        "ManagerStatus.Leader:bool",
        "ManagerStatus.Reachability:str",
        "ManagerStatus.Addr:str",
    },
    "service": {
        "ID:str",
        "CreatedAt:str",
        "UpdatedAt:str",
        "Spec.Name:str",
        "Spec.Labels:dict",
        "Spec.TaskTemplate.ContainerSpec.Image:str",
        "Spec.Mode.Replicated.Replicas:int",
        "Spec.Mode.Global",
        "ServiceStatus.RunningTasks:int",
        "ServiceStatus.DesiredTasks:int",
        "UpdateStatus.State:str",
        "UpdateStatus.Message:str",
        "Endpoint.Ports[].Protocol:str",
        "Endpoint.Ports[].TargetPort:int",
        "Endpoint.Ports[].PublishedPort:int",
        "Endpoint.Ports[].PublishMode:str",
    },
    "task": {
        "ID:str",
        "ServiceID:str",
        "Slot:int",
        "NodeID:str",
        "DesiredState:str",
        "CreatedAt:str",
        "UpdatedAt:str",
        "Spec.ContainerSpec.Image:str",
        "Status.State:str",
        "Status.Message:str",
        "Status.Timestamp:str",
        "Status.ContainerStatus.ContainerID:str",
        "Status.ContainerStatus.ExitCode:int",
    },
    "failed task": {"Status.Err:str", "Status.ContainerStatus.ExitCode:int"},
    "event": {"Type:str", "Action:str", "Actor.ID:str", "Actor.Attributes:dict", "time:int", "timeNano:int"},
}


def attribute_keys(events: list[dict[str, Any]], kind: str, action: str | None = None) -> set[str]:
    return {
        key for e in events if e["Type"] == kind and action in (None, e["Action"]) for key in e["Actor"]["Attributes"]
    }


async def _fetch(socket_path: str, paths: list[str]) -> dict[str, list[Any]]:
    """GET each path; /events answers JSON lines, the others one JSON document."""
    answers: dict[str, list[Any]] = {}
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as session:
        for path in paths:
            async with session.get("http://docker/v1.41" + path, timeout=aiohttp.ClientTimeout(total=30)) as r:
                body = await r.read()
                assert r.status == 200, f"{path}: {r.status} {body[:300]!r}"
            if path.startswith("/events"):
                answers["/events"] = [json.loads(line) for line in body.splitlines() if line.strip()]
            else:
                answers[path.split("?")[0]] = json.loads(body)
    return answers


def _paths(since_ns: int) -> list[str]:
    filters = json.dumps({"type": list(EVENT_TYPES)})
    events = f"/events?since={since_ns // 10**9}&until={time.time_ns() / 1e9:.9f}&filters={filters}"
    return ["/nodes", "/services?status=true", "/tasks", events]


def _real(lab: Lab, swarm: Swarm) -> dict[str, list[Any]]:
    since = time.time_ns()
    swarm.drain("swarm-n3")
    swarm.activate("swarm-n3")
    port = random.randrange(20000, 30000)
    web = swarm.create_service(
        "shop_web",
        replicas=3,
        extra=(
            *("--label", "com.docker.stack.namespace=shop", "--container-label", "com.docker.stack.namespace=shop"),
            *("--env", "DB_PASSWORD=hunter2", "--endpoint-mode", "dnsrr"),
            *("--publish", f"mode=host,target=80,published={port}"),
        ),
    )
    agent = swarm.create_service("agent", mode="global")
    crasher = swarm.create_service("crasher", command=("sh", "-c", "sleep 1; exit 3"))
    swarm.wait_running(web, 3)
    swarm.wait_running(agent, 3)
    wait_until(
        lambda: any(t["Status"]["State"] == "failed" for t in swarm.tasks(crasher, desired=None)),
        timeout=30,
        what="a failed task of crasher",
    )
    swarm.scale(web, 2)
    lab.docker("service", "update", "--detach", "--update-parallelism", "0", "--env-add", "FOO=bar", agent)
    wait_until(
        lambda: lab.api(f"/services/{agent}").get("UpdateStatus", {}).get("State") == "completed",
        timeout=30,
        what="the update of agent to complete",
    )
    return asyncio.run(_fetch(lab.sock(1), _paths(since)))


async def _simulated() -> dict[str, list[Any]]:
    sim = Simulator(nodes=3, tasks=9, managers=1, seed=2, step_delay=0)
    since = time.time_ns()
    sim.set_node_availability(sim.node_ids[2], "drain")
    sim.set_node_availability(sim.node_ids[2], "active")
    web = sim.create_service("shop_web", replicas=3, publishes=True)
    agent = sim.create_service("agent", replicas=None)
    crasher = sim.create_service("crasher", replicas=1)
    sim.fail_task(sim.task_ids(service_id=crasher, state="running")[0], exit_code=3)
    sim.fail_task(sim.task_ids(node_id=sim.local_node_id, state="running")[0], exit_code=3)
    sim.scale(web, 2)
    sim.update_service(agent, env=["FOO=bar"])
    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    await sim.start(f"{folder}/docker.sock")
    try:
        return await _fetch(sim.socket_path, _paths(since))
    finally:
        await sim.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _assert_same_shape(kind: str, real: list[Any], simulated: list[Any]) -> None:
    assert real and simulated, f"no {kind} to compare"
    ours, theirs = shapes(simulated), shapes(real)
    assert ours - theirs == set(), f"the simulator sends {kind} keys Docker never does"
    assert theirs - ours <= OPTIONAL.get(kind, set()), f"the simulator lacks {kind} keys Docker sends"
    needed = READ_BY_THE_DASHBOARD[kind]
    assert needed <= theirs and needed <= ours, f"{kind} keys the dashboard reads are missing"


def test_it_sends_nodes_services_tasks_and_events_shaped_as_dockers(lab: Lab, swarm: Swarm) -> None:
    real = _real(lab, swarm)
    simulated = asyncio.run(_simulated())

    _assert_same_shape("node", real["/nodes"], simulated["/nodes"])
    _assert_same_shape("service", real["/services"], simulated["/services"])

    def running(tasks: list[Any]) -> list[Any]:
        return [t for t in tasks if t["Status"]["State"] == "running" and "Slot" in t]

    _assert_same_shape("task", running(real["/tasks"]), running(simulated["/tasks"]))
    assert shapes(simulated["/tasks"]) <= shapes(real["/tasks"])  # tasks in every state the simulator shows

    def failed(tasks: list[Any]) -> list[Any]:
        return [t for t in tasks if t["Status"]["State"] == "failed"]

    failed_real, failed_simulated = failed(real["/tasks"]), failed(simulated["/tasks"])
    assert shapes([t["Status"] for t in failed_simulated]) == shapes([t["Status"] for t in failed_real])
    assert READ_BY_THE_DASHBOARD["failed task"] <= shapes(failed_simulated) & shapes(failed_real)

    events_real, events_simulated = real["/events"], simulated["/events"]
    for kind in EVENT_TYPES:
        _assert_same_shape(
            "event", [e for e in events_real if e["Type"] == kind], [e for e in events_simulated if e["Type"] == kind]
        )
        extra = attribute_keys(events_simulated, kind) - attribute_keys(events_real, kind)
        assert extra == set(), f"{kind} event attributes Docker never sends"
    actions = {e["Action"] for e in events_real if e["Type"] == "container"}
    actions &= {e["Action"] for e in events_simulated if e["Type"] == "container"}
    assert {"create", "start", "die"} <= actions
    for action in actions:  # a container's labels join its attributes: the services differ in labels, not here
        ours = {k for k in attribute_keys(events_simulated, "container", action) if not k.startswith(STACK_LABELS)}
        theirs = {k for k in attribute_keys(events_real, "container", action) if not k.startswith(STACK_LABELS)}
        assert ours == theirs, f"container {action} attributes differ"
