"""Several processes, one watcher, one truth (in one event loop here; across real daphne processes in
tests/browser and tests/deploy): each process's replicated model follows Docker on the real lab, only
the lease holder asks Docker anything, and when the holder dies without a word (its lease left to
expire, as after kill -9) another process takes over within 5 s and is true again within 2 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.shared.lease import Keys, Timing
from dashboard.core.shared.replicated import Replicated, SharedSettings
from dashboard.core.watch import Watcher, WatchSettings
from tests.integration.swarmtruth import docker_reaches, model_matches, running
from tests.integration.test_replica import until
from tests.integration.test_watcher import PRODUCTION
from tests.lab import Lab, Swarm
from tests.redisd import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="function")
KEYS = Keys.of("default")
SHARED = SharedSettings(timing=Timing(ttl=4.0, renew_every=1.0, retry_every=0.25), beat_every=1.0, block=1.0)


@pytest_asyncio.fixture(loop_scope="function")
async def redis_clients(redis_server: RedisServer) -> AsyncIterator[list[aioredis.Redis]]:
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(3)]
    await clients[0].flushall()
    yield clients
    for client in clients:
        await client.aclose()


async def test_one_watcher_among_processes_and_a_takeover_when_its_holder_dies(
    lab: Lab, swarm: Swarm, redis_clients: list[aioredis.Redis]
) -> None:
    def new_watcher() -> Watcher:
        return Watcher(lambda: DockerClient(Endpoint(host=lab.docker_host), request_timeout=3), PRODUCTION)

    processes = [Replicated(r, KEYS, f"p{i}", new_watcher, PRODUCTION, SHARED) for i, r in enumerate(redis_clients)]
    runs = [asyncio.create_task(p.run()) for p in processes]
    try:
        await until(lambda: all(p.snapshot.status.state == "live" for p in processes), 20, "every process live")
        leaders = [p for p in processes if p.leader is not None]
        assert len(leaders) == 1, [p.holder for p in leaders]
        leader = leaders[0]
        for p in processes:
            if p is not leader:
                assert not p.request_counts(), "a process that does not hold the lease asked Docker"

        name = await asyncio.to_thread(swarm.create_service, "ha", replicas=3)
        sid = await asyncio.to_thread(swarm.service_id, name)
        await docker_reaches(lab, lambda d: running(d, sid) == 3, what="3 running")
        for p in processes:
            await model_matches(lab, p.follower)
        assert len({(p.epoch, p.snapshot.seq) for p in processes}) == 1

        # the holder dies: no release, no last word; its lease runs out
        epoch = leader.epoch
        dead = processes.index(leader)
        runs[dead].cancel()
        await asyncio.gather(runs[dead], return_exceptions=True)
        died = time.monotonic()
        survivors = [p for i, p in enumerate(processes) if i != dead]
        await until(lambda: any(p.leader is not None for p in survivors), 8, "a new holder")
        took_over = time.monotonic() - died
        assert took_over <= 5.0, f"takeover took {took_over:.1f}s"
        await until(lambda: all(p.epoch > epoch for p in survivors), 5, "the new epoch everywhere")
        assert len({p.epoch for p in survivors}) == 1
        for p in survivors:
            await model_matches(lab, p.follower)  # true again within 2 s
        assert sum(1 for p in survivors if p.leader is not None) == 1

        await asyncio.to_thread(swarm.scale, name, 1)
        await docker_reaches(lab, lambda d: running(d, sid) == 1, what="1 running")
        for p in survivors:
            await model_matches(lab, p.follower)
        print(f"\ntakeover after the holder died: {took_over:.2f}s")
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)


async def test_a_holder_that_cannot_reach_docker_hands_over_to_one_that_can(
    lab: Lab, redis_clients: list[aioredis.Redis]
) -> None:
    """A manager whose socket is gone (its daemon down, a wrong mount) must not keep the swarm dark:
    it gives the lease back once Docker has been silent for ``unreachable_after``, and stays away a
    ttl, so that a process that can reach Docker leads."""
    shared = SharedSettings(
        timing=Timing(ttl=2.0, renew_every=0.5, retry_every=0.1), beat_every=0.5, block=1.0, unreachable_after=2.0
    )
    settings = WatchSettings(reconcile=8.0, backoff_initial=0.1, backoff_max=0.5)

    def watcher_of(host: str) -> Callable[[], Watcher]:
        return lambda: Watcher(lambda: DockerClient(Endpoint(host=host), request_timeout=1), settings)

    blind = Replicated(redis_clients[0], KEYS, "blind", watcher_of("unix:///nonexistent/docker.sock"), settings, shared)
    sighted = Replicated(redis_clients[1], KEYS, "sighted", watcher_of(lab.docker_host), settings, shared)
    runs = [asyncio.create_task(blind.run())]
    try:
        await until(lambda: blind.leader is not None, 5, "the blind process leading")
        runs.append(asyncio.create_task(sighted.run()))
        await until(lambda: sighted.leader is not None, 12, "the process that can reach Docker leading")
        await until(lambda: blind.snapshot.status.state == "live", 5, "a live model everywhere")
        await model_matches(lab, blind.follower)
        assert blind.leader is None
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
