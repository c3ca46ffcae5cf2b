"""The watcher's races, scripted against a fake Docker on a fast-forwarded clock (looptime).

Each test drives the real Watcher loop with production-sized periods (8 s reconcile, 60 s
liveness); looptime jumps the event loop's clock over every idle wait, so a minute of the
watcher's life takes milliseconds and every interleaving is exactly the one written down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from contextlib import AbstractAsyncContextManager

import pytest

from dashboard.core.docker import DockerAPIError
from dashboard.core.model import Patch, Snapshot
from dashboard.core.watch import Watcher, WatchSettings
from tests.integration.test_watcher import watching_with
from tests.unit.fakedocker import FakeDocker, factory, node, secret, service, task

# a loop of their own: an earlier test's thread still running would hold the fast-forwarded clock back
pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]

PRODUCTION = WatchSettings()  # 8 s reconcile, a full one every 8th, 60 s liveness


def running(docker: FakeDocker, settings: WatchSettings = PRODUCTION) -> AbstractAsyncContextManager[Watcher]:
    return watching_with(factory(docker), settings)


def small_swarm() -> FakeDocker:
    docker = FakeDocker()
    docker.nodes = {"n1": node("n1"), "n2": node("n2")}
    docker.services = {"s1": service("s1", replicas=2), "s2": service("s2")}
    docker.tasks = {
        "t1": task("t1", "s1", "n1", slot=1),
        "t2": task("t2", "s1", "n2", slot=2),
        "t3": task("t3", "s2", "n2", slot=1),
    }
    return docker


async def test_it_says_error_internal_when_the_watcher_crashes_and_restarts_with_backoff() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        assert watcher.snapshot.status.state == "live"
        # a bug or an answer no parser expected, in the middle of a reconcile, three times running
        docker.fail["tasks"] = [KeyError("Status"), KeyError("Status"), KeyError("Status")]
        await watcher.wait_for(lambda s: s.status.state == "error", 10)
        status = watcher.snapshot.status
        assert status.kind == "internal"
        assert "KeyError" in status.reason and "Status" not in status.reason  # the type, never the data
        # it starts again by itself, and is live once the listing works again
        await watcher.wait_for(lambda s: s.status.state == "live", 30)
    starts = docker.calls_of("info")  # one per session
    assert len(starts) == 4, starts
    gaps = [b - a for a, b in itertools.pairwise(starts[1:])]  # the restarts after the crash
    assert gaps[1] > gaps[0] >= PRODUCTION.backoff_initial, f"no backoff between restarts: {gaps}"


async def test_it_never_says_live_while_docker_answers_garbage() -> None:
    docker = small_swarm()
    docker.fail["nodes"] = [AttributeError("'str' object has no attribute 'get'")] * 50
    watcher = Watcher(factory(docker), PRODUCTION)
    loop = asyncio.create_task(watcher.run())
    seen: list[str] = []

    async def record(snapshot: Snapshot, patch: Patch) -> None:
        seen.append(snapshot.status.state)

    watcher.subscribe(record)
    try:
        await watcher.wait_for(lambda s: s.status.kind == "internal", 5)
        await asyncio.sleep(60)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert "live" not in seen
    assert len(docker.calls_of("info")) <= 12, "restarted without backoff"


async def test_it_relists_secrets_whose_event_meets_a_full_reconcile() -> None:
    docker = small_swarm()
    every_reconcile_full = WatchSettings(full_every=1)
    async with running(docker, every_reconcile_full) as watcher:
        loop = asyncio.get_running_loop()
        first = docker.calls_of("tasks")[-1]
        # the secret's event lands a hair before the reconcile is due: the refresher wakes for
        # it, coalesces, and finds the reconcile due - the hint must not be dropped on the floor
        await asyncio.sleep(first + PRODUCTION.reconcile - 0.01 - loop.time())
        docker.secrets["x1"] = secret("x1", "db-password")
        docker.emit("secret", "create", "x1", name="db-password")
        await watcher.wait_for(lambda s: "x1" in s.secrets, 3 * PRODUCTION.reconcile)


async def test_it_relists_secrets_when_a_relist_falls_back_to_everything() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        # one burst: a service is removed (its re-list will 404) and a secret is created
        docker.fail["services"] = [DockerAPIError(404, "service s2 not found")]
        docker.secrets["x2"] = secret("x2", "api-token")
        docker.emit("service", "update", "s2")
        docker.emit("secret", "create", "x2", name="api-token")
        await watcher.wait_for(lambda s: "x2" in s.secrets, 3 * PRODUCTION.reconcile)


async def test_it_shows_the_dashboards_own_secret_write_even_when_its_event_is_lost() -> None:
    docker = small_swarm()
    async with running(docker, WatchSettings(full_every=1)) as watcher:
        loop = asyncio.get_running_loop()
        first = docker.calls_of("tasks")[-1]
        await asyncio.sleep(first + PRODUCTION.reconcile - 0.01 - loop.time())
        docker.secrets["x3"] = secret("x3", "written-here")
        watcher.poke(secrets=True)  # no event at all
        await watcher.wait_for(lambda s: "x3" in s.secrets, 3 * PRODUCTION.reconcile)


async def test_it_never_shows_a_removed_services_tasks_again() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        published: list[Snapshot] = []

        async def record(snapshot: Snapshot, patch: Patch) -> None:
            published.append(snapshot)

        watcher.subscribe(record)
        # Docker removes the service at once, its tasks only after they have shut down
        del docker.services["s1"]
        for task_id in ("t1", "t2"):
            docker.tasks[task_id] = task(task_id, "s1", docker.tasks[task_id].node_id, desired="remove")
        docker.emit("service", "remove", "s1")
        await watcher.wait_for(lambda s: "s1" not in s.services, 2)
        assert not [t for t in watcher.snapshot.tasks.values() if t.service_id == "s1"]
        # reconciles (plain and full) keep catching those tasks in /tasks for a while
        await asyncio.sleep(9 * PRODUCTION.reconcile)
        del docker.tasks["t1"], docker.tasks["t2"]
        await asyncio.sleep(2 * PRODUCTION.reconcile)
    ghosts = [(s.seq, t.id) for s in published for t in s.tasks.values() if t.service_id == "s1"]
    assert published and not ghosts, f"a removed service's tasks came back: {ghosts}"


async def test_it_drops_the_tasks_of_a_service_found_gone_before_its_event() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        del docker.services["s2"]
        docker.tasks["t3"] = task("t3", "s2", "n2", desired="remove")
        docker.emit("service", "update", "s2")  # read before the remove event comes
        await watcher.wait_for(lambda s: "s2" not in s.services, 2)
        assert "t3" not in watcher.snapshot.tasks


async def test_it_replaces_a_half_open_events_stream_within_the_liveness_bound() -> None:
    docker = small_swarm()
    # no full reconcile in this test's time: only the events stream can carry a service change
    settings = WatchSettings(full_every=10_000)
    async with running(docker, settings) as watcher:
        loop = asyncio.get_running_loop()
        docker.services["s2"] = service("s2", replicas=1, image="local/busybox:1")
        docker.emit("container", "start", "c1", **{"com.docker.swarm.service.id": "s2"})
        await asyncio.sleep(1)
        last_heard = loop.time()
        (stream,) = docker.open_streams()
        stream.half_open = True  # a proxy between us keeps the connection and drops everything
        await asyncio.sleep(1)
        docker.services["s2"] = service("s2", replicas=3, image="local/busybox:2")
        docker.emit("service", "update", "s2", name="svc-s2")
        await watcher.wait_for(lambda s: s.services["s2"].replicas == 3, 2 * settings.liveness)
        assert loop.time() - last_heard <= settings.liveness, (
            f"the half-open stream was replaced {loop.time() - last_heard:.0f}s after it went quiet"
        )
        assert watcher.snapshot.status.state == "live"


async def test_an_idle_swarm_costs_one_events_request_per_liveness_period() -> None:
    docker = small_swarm()
    async with running(docker, WatchSettings(reconcile=8.0)):
        before = len(docker.calls_of("events"))
        await asyncio.sleep(10 * 60)
        reopened = len(docker.calls_of("events")) - before
    assert 10 <= reopened <= 15, reopened


async def test_a_hint_during_a_relist_keeps_its_service_followed() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        # a service event: its tasks are re-listed, and this listing is held in flight
        gate = docker.gates["tasks:service"] = asyncio.Event()
        docker.emit("service", "update", "s2")
        await asyncio.sleep(0.1)
        # meanwhile its task dies (a container event) and is replaced by one that is on its way
        docker.tasks["t3"] = task("t3", "s2", "n2", state="failed", desired="shutdown")
        docker.tasks["t4"] = task("t4", "s2", "n1", state="pending")
        docker.emit("container", "die", "c3", **{"com.docker.swarm.service.id": "s2"})
        gate.set()
        del docker.gates["tasks:service"]
        # the replacement starts a moment later; no event tells the manager
        await asyncio.sleep(1)
        docker.tasks["t4"] = task("t4", "s2", "n1", state="running")
        await watcher.wait_for(lambda s: "t4" in s.tasks and s.tasks["t4"].state == "running", 3)


async def test_a_late_node_listing_never_undoes_a_newer_service_listing() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        # a node event and a container event in one burst: the node's tasks are listed (held, so
        # its answer is the older), then the service's
        gate = docker.gates["tasks:node"] = asyncio.Event()
        docker.emit("node", "update", "n2")
        docker.emit("container", "die", "c2", **{"com.docker.swarm.service.id": "s1"})
        await asyncio.sleep(0.1)
        docker.tasks["t2"] = task("t2", "s1", "n2", slot=2, state="failed", desired="shutdown")
        gate.set()
        await watcher.wait_for(lambda s: s.tasks["t2"].state == "failed", 3)
        await asyncio.sleep(0.5)
        assert watcher.snapshot.tasks["t2"].state == "failed"


async def test_a_stream_found_half_open_is_followed_by_a_full_listing() -> None:
    docker = small_swarm()
    async with running(docker, WatchSettings(full_every=10_000)) as watcher:
        docker.emit("container", "start", "c1", **{"com.docker.swarm.service.id": "s2"})
        await asyncio.sleep(1)
        (stream,) = docker.open_streams()
        stream.half_open = True
        await asyncio.sleep(2)
        # more happened than Docker's replay keeps (256 events): a node's change is among the lost
        docker.nodes["n2"] = node("n2", availability="drain")
        docker.emit("node", "update", "n2")
        for i in range(300):
            docker.emit("container", "exec_start", f"c{i}", **{"com.docker.swarm.service.id": "s1"})
        docker.log[:] = docker.log[-256:]
        await watcher.wait_for(lambda s: s.nodes["n2"].availability == "drain", PRODUCTION.liveness)


async def test_it_ignores_exec_events_and_events_without_a_time() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        await asyncio.sleep(0.5)
        before = len(docker.calls_of("tasks"))
        for i in range(20):  # a healthcheck's exec every so often: no task changes
            docker.emit("container", "exec_start", f"c{i}", **{"com.docker.swarm.service.id": "s1"})
        await asyncio.sleep(2)
        assert len(docker.calls_of("tasks")) == before
        docker.services["s2"] = service("s2", replicas=4)
        event = docker.emit("service", "update", "s2")
        docker.streams[-1].queue.put_nowait(dataclasses.replace(event, time_nano=0))
        await watcher.wait_for(lambda s: s.services["s2"].replicas == 4, 2)


async def test_it_tells_a_stuck_watcher_from_a_waiting_one() -> None:
    docker = small_swarm()
    async with running(docker) as watcher:
        await asyncio.sleep(60)  # idle: each refresh round counts as progress
        assert watcher.stalled_for() <= PRODUCTION.reconcile + 1
        docker.gates["tasks"] = asyncio.Event()  # the next reconcile's listing never answers
        await asyncio.sleep(120)
        assert watcher.stalled_for() >= 100
        docker.gates.pop("tasks").set()
        await asyncio.sleep(PRODUCTION.reconcile + 1)
        assert watcher.stalled_for() <= PRODUCTION.reconcile + 1
