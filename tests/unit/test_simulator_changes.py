"""bench.simulator changes the swarm as a manager does: failures, scales, node states, rollouts, and their events."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bench.simulator import Simulator
from dashboard.core.docker import DaemonUnreachable, DockerClient, Endpoint
from tests.unit import simulator_helpers
from tests.unit.simulator_helpers import event_stream, filters, first_event, on_node, raw, serving

# the simulators these tests run against: pytest fixtures shared in simulator_helpers
sim, client = simulator_helpers.sim, simulator_helpers.client


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
