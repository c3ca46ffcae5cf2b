"""One watcher per swarm across processes: a lease in Redis, renewed while held.

The holder is the only process that asks Docker about the swarm; every other process waits for the
lease to be free. Each time the lease changes hands an epoch counter goes up: the epoch names the
model the new holder builds, so that nothing from an earlier holder is taken for part of it.

A holder that cannot renew (Redis unreachable, its event loop stalled) stops leading before the
lease can have expired in Redis, so that two processes never lead at once by their own clocks; one
that dies (kill -9) leaves a lease that expires ``ttl`` after its last renewal, and another process
takes it within ``retry_every`` after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

log = logging.getLogger(__name__)

# SET NX: the lease is free; then the epoch of the new holder, in the same atomic step: one past the
# last, and never below Redis's clock in milliseconds, so that a Redis restarted empty (its counter
# gone) can never hand out an epoch that pages still hold
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local epoch = redis.call('INCR', KEYS[2])
  local now = redis.call('TIME')
  local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if epoch < floor then
    redis.call('SET', KEYS[2], floor)
    epoch = floor
  end
  return epoch
end
return 0
"""
# renew and release only a lease this holder still holds (it may have expired and moved on)
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Keys:
    """A swarm's keys in Redis: one prefix, so that several swarms and deployments share one Redis."""

    prefix: str

    @classmethod
    def of(cls, swarm: str, namespace: str = "sv") -> Keys:
        return cls(f"{namespace}:{swarm}:")

    @property
    def lease(self) -> str:
        return f"{self.prefix}lease"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}epoch"


def holder_id() -> str:
    """This process, uniquely and readably: host, pid and a random part (a pid is reused on restart)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """The lease of one swarm, as one holder sees it."""

    def __init__(self, redis: Redis, keys: Keys, holder: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("a lease needs a positive ttl")
        self.redis = redis
        self.keys = keys
        self.holder = holder
        self.ttl = ttl

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    async def acquire(self) -> int | None:
        """The new epoch when this holder got the lease; None when another process holds it."""
        epoch = int(await self.redis.eval(_ACQUIRE, 2, self.keys.lease, self.keys.epoch, self.holder, self._ttl_ms))
        return epoch or None

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.keys.lease, self.holder, self._ttl_ms))

    async def release(self) -> bool:
        return bool(await self.redis.eval(_RELEASE, 1, self.keys.lease, self.holder))

    async def current_holder(self) -> str | None:
        value = await self.redis.get(self.keys.lease)
        return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Timing:
    """``renew_every`` well inside ``ttl`` (a renewal may wait on a slow Redis); ``retry_every``: how
    often a process that does not hold the lease asks for it."""

    ttl: float = 4.0
    renew_every: float = 1.0
    retry_every: float = 0.25

    def __post_init__(self) -> None:
        # room for one failed renewal and one slow one before the holder must give up
        if not 0 < self.renew_every <= self.ttl / 3:
            raise ValueError("renew_every must be at most a third of the ttl")
        if self.retry_every <= 0:
            raise ValueError("retry_every must be positive")


Lead = Callable[[int], Awaitable[None]]


async def hold(
    lease: Lease,
    lead: Lead,
    timing: Timing,
    *,
    stalled: Callable[[], bool] = lambda: False,
    _terms: int | None = None,
) -> None:
    """For ever: wait for the lease, then run ``lead(epoch)`` for as long as it is held.

    Leading ends when a renewal finds the lease gone, when no renewal succeeded for most of the ttl
    (Redis unreachable: the lease may expire any moment, and another process take it), when
    ``stalled()`` says the leader stopped making progress (it gives the lease back, so that a process
    that can watch takes over), or when ``lead`` returns or fails. ``_terms`` bounds the number of
    terms led, for tests."""
    terms = 0
    while _terms is None or terms < _terms:
        asked = asyncio.get_running_loop().time()  # the lease stands ttl from when it was asked for
        try:
            epoch = await lease.acquire()
        except Exception as e:  # Redis down: nobody can lead; ask again
            log.warning("the lease of %s could not be asked for: %s", lease.keys.prefix, e)
            epoch = None
        if epoch is None:
            await asyncio.sleep(timing.retry_every)
            continue
        terms += 1
        log.info("leading %s in epoch %d as %s", lease.keys.prefix, epoch, lease.holder)
        why = await _term(lease, lead, epoch, timing, stalled, asked)
        log.warning("stopped leading %s (epoch %d): %s", lease.keys.prefix, epoch, why)
        with contextlib.suppress(Exception):  # it expires by itself when Redis cannot be told
            await lease.release()
        # another process's turn first; after a stall (this process could not watch) a long one, so
        # that a process that can takes the lease before this one asks again
        await asyncio.sleep(timing.ttl if why == STALLED else timing.retry_every)


STALLED = "the leader stalled"


async def _term(lease: Lease, lead: Lead, epoch: int, timing: Timing, stalled: Callable[[], bool], asked: float) -> str:
    """Run one term; why it ended."""
    clock = asyncio.get_running_loop().time  # the loop's clock: what its sleeps and timeouts follow
    # the lease surely stands until ttl after it was *asked* for or a renewal *sent* (Redis may apply
    # either any time before the answer comes back); the leader stops a renewal's time before that
    valid_until = asked + timing.ttl
    leader = asyncio.ensure_future(lead(epoch))
    try:
        while True:
            done, _ = await asyncio.wait([leader], timeout=timing.renew_every)
            if done:
                error = leader.exception()
                return f"the leader failed: {error!r}" if error else "the leader returned"
            if stalled():
                return STALLED
            sent = clock()
            left = valid_until - timing.renew_every - sent
            if left <= 0:
                return "the lease could not be renewed in time"
            try:
                if not await asyncio.wait_for(lease.renew(), timeout=min(timing.renew_every, left)):
                    return "the lease was lost"
                valid_until = sent + timing.ttl
            except Exception as e:
                # past this, the lease may have expired in Redis and another process be leading
                if clock() >= valid_until - 2 * timing.renew_every:
                    return f"the lease could not be renewed in time ({e!r})"
    finally:
        leader.cancel()
        await asyncio.gather(leader, return_exceptions=True)
