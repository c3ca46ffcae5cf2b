"""The watcher lease on a real redis-server: one holder at a time, epochs that only go up, a dead
holder's lease taken over once it expires, and a holder that lost it unable to renew or release it."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from dashboard.core.shared.lease import Keys, Lease, Timing, hold

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_one_holder_at_a_time_and_each_term_a_new_epoch(redis: aioredis.Redis) -> None:
    keys = Keys.of("default")
    a, b = Lease(redis, keys, "a", ttl=5), Lease(redis, keys, "b", ttl=5)
    first = await a.acquire()
    assert first is not None and first > 1_700_000_000_000  # Redis's clock in ms: a restart never goes back
    assert await b.acquire() is None
    assert not await b.renew() and not await b.release()  # b cannot touch a's lease
    assert await a.current_holder() == "a"
    assert await a.renew()
    assert await a.release()
    second = await b.acquire()
    assert second is not None and second > first  # the next term's epoch, never reused
    assert await b.current_holder() == "b"


async def test_a_dead_holders_lease_expires_and_is_taken_over(redis: aioredis.Redis) -> None:
    keys = Keys.of("default")
    dead, alive = Lease(redis, keys, "dead", ttl=0.3), Lease(redis, keys, "alive", ttl=0.3)
    first = await dead.acquire()
    assert first is not None
    assert await alive.acquire() is None
    for _ in range(40):  # bounded: 2 s at most for a 0.3 s lease
        await asyncio.sleep(0.05)
        epoch = await alive.acquire()
        if epoch is not None:
            break
    assert epoch is not None and epoch > first
    assert not await dead.renew()  # too late: the lease has moved on
    assert not await dead.release()
    assert await alive.current_holder() == "alive"


async def test_swarms_and_namespaces_do_not_share_a_lease(redis: aioredis.Redis) -> None:
    one = Lease(redis, Keys.of("default"), "a", ttl=5)
    other_swarm = Lease(redis, Keys.of("prod"), "b", ttl=5)
    other_deployment = Lease(redis, Keys.of("default", namespace="sv-staging"), "c", ttl=5)
    for lease in (one, other_swarm, other_deployment):  # each free, each its own counter
        assert await lease.acquire() is not None


async def test_two_processes_holding_in_turn_on_real_redis(redis: aioredis.Redis) -> None:
    """Two holders run hold() side by side: exactly one leads; when its leader stops, the other leads."""
    keys = Keys.of("default")
    timing = Timing(ttl=0.9, renew_every=0.3, retry_every=0.05)
    leading: list[tuple[str, int]] = []
    stop_first = asyncio.Event()

    def leader(name: str) -> object:
        async def lead(epoch: int) -> None:
            leading.append((name, epoch))
            if len(leading) == 1:
                await stop_first.wait()  # the first term ends when told
            else:
                await asyncio.sleep(3600)

        return lead

    holders = [
        asyncio.create_task(hold(Lease(redis, keys, name, ttl=timing.ttl), leader(name), timing))  # type: ignore[arg-type]
        for name in ("p1", "p2")
    ]
    try:
        for _ in range(100):
            if leading:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)  # several renewals: still one leader
        assert len(leading) == 1
        stop_first.set()
        for _ in range(100):
            if len(leading) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(leading) == 2
        assert leading[1][1] > leading[0][1]
    finally:
        for task in holders:
            task.cancel()
        await asyncio.gather(*holders, return_exceptions=True)


async def test_a_redis_restarted_empty_never_hands_out_an_epoch_already_used(redis: aioredis.Redis) -> None:
    """Without persistence a restart loses the counter: epochs follow Redis's clock, so the next one is
    still past every epoch handed out before (which pages may hold)."""
    keys = Keys.of("default")
    before = await Lease(redis, keys, "a", ttl=5).acquire()
    assert before is not None
    await redis.flushall()  # what a restart without persistence leaves
    await asyncio.sleep(0.01)
    after = await Lease(redis, keys, "b", ttl=5).acquire()
    assert after is not None and after > before
