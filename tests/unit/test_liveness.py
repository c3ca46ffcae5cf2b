"""Liveness (the image's HEALTHCHECK) fails for a stuck process, not for a lost Docker; a watcher
loop that dies is said to be broken and started again, with backoff."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from dashboard.core.docker import Endpoint
from dashboard.core.registry import Registry, SwarmConfig, supervise
from dashboard.core.watch import Watcher, WatchSettings
from tests.unit.fakedocker import FakeDocker, factory

# a loop of their own: an earlier test's thread still running would hold the fast-forwarded clock back
pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]


def registry_of(docker: FakeDocker) -> Registry:
    config = SwarmConfig(name="default", endpoint=Endpoint(host="unix:///fake.sock"), watch=WatchSettings())
    registry = Registry([config])
    swarm = registry.get()
    swarm.new_client = docker.client  # type: ignore[method-assign,assignment]
    assert isinstance(swarm.watcher, Watcher)
    swarm.watcher._client_factory = docker.client  # type: ignore[assignment]
    return registry


async def test_it_is_alive_while_docker_is_gone_and_dead_once_the_watcher_is_stuck() -> None:
    docker = FakeDocker()
    docker.broken = True  # Docker is gone: the watcher reconnects with backoff, and is alive
    registry = registry_of(docker)
    try:
        await asyncio.sleep(300)
        alive, body = registry.liveness()
        assert alive, body
        docker.broken = False
        docker.gates["tasks"] = asyncio.Event()  # a listing that never answers: the watcher is stuck
        await asyncio.sleep(600)
        alive, body = registry.liveness()
        assert not alive and body["status"] == "error", body
    finally:
        for gate in docker.gates.values():
            gate.set()
        await registry.stop()


async def test_asking_starts_a_watcher_that_is_not_running() -> None:
    registry = registry_of(FakeDocker())
    try:
        await registry.get().stop()
        assert registry.liveness()[0]  # asking starts it again
        swarm = registry.get()
        await swarm.stop()
        assert not swarm.running
    finally:
        await registry.stop()


async def test_a_watcher_loop_that_dies_is_said_broken_and_restarted_with_backoff() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    class Dying(Watcher):
        async def run(self, *, _iterations: int | None = None) -> None:
            runs.append(loop.time())
            if len(runs) < 4:
                raise RuntimeError("a bug")

    w = Dying(factory(FakeDocker()))
    await supervise(w, backoff_max=10, _iterations=5)
    assert len(runs) == 4
    assert (w.snapshot.status.state, w.snapshot.status.kind) == ("error", "internal")
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[0] >= 1 and gaps[1] >= 2 * gaps[0] * 0.99 and gaps[2] >= 2 * gaps[1] * 0.99, gaps


async def test_it_watches_every_swarm_of_the_registry() -> None:
    docker = FakeDocker()
    configs = [
        SwarmConfig(name=name, endpoint=Endpoint(host="unix:///fake.sock"), watch=WatchSettings())
        for name in ("default", "lab")
    ]
    registry = Registry(configs)
    for name in registry.names:
        swarm = registry.get(name)
        swarm.new_client = docker.client  # type: ignore[method-assign,assignment]
        assert isinstance(swarm.watcher, Watcher)
        swarm.watcher._client_factory = docker.client  # type: ignore[assignment]
    try:
        await asyncio.sleep(5)
        alive, body = registry.liveness()
        assert alive and {"default", "lab"} <= set(body), body
        assert body["watcher"] == "running"  # the default swarm's figures at the top level, as before
        assert registry.get("lab").group == "swarm.lab" and registry.get().group == "swarm"
    finally:
        await registry.stop()
