"""The lease holder's loop on a fast-forwarded clock (looptime): when it stops leading, and that it
never leads past the moment its lease may have expired in Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dashboard.core.shared.lease import Keys, Lease, Timing, hold

pytestmark = [pytest.mark.looptime, pytest.mark.asyncio(loop_scope="function")]

TIMING = Timing(ttl=4.0, renew_every=1.0, retry_every=0.25)


class ScriptedLease(Lease):
    """A lease whose Redis answers are scripted: ``renewals`` is what each renew() does in turn
    (True, False, or an exception to raise); past its end every renewal succeeds."""

    def __init__(self, renewals: list[Any], free_after: float = 0.0) -> None:
        super().__init__(redis=None, keys=Keys.of("default"), holder="me", ttl=TIMING.ttl)  # type: ignore[arg-type]
        self.renewals = list(renewals)
        self.free_after = free_after
        self.epoch = 0
        self.released: list[float] = []
        self.renewed: list[float] = []

    async def acquire(self) -> int | None:
        if asyncio.get_running_loop().time() < self.free_after:
            return None
        self.epoch += 1
        return self.epoch

    async def renew(self) -> bool:
        answer = self.renewals.pop(0) if self.renewals else True
        if isinstance(answer, BaseException):
            raise answer
        if answer:
            self.renewed.append(asyncio.get_running_loop().time())
        return bool(answer)

    async def release(self) -> bool:
        self.released.append(asyncio.get_running_loop().time())
        return True


class Terms:
    """Records each term's epoch, start and end on the loop's clock."""

    def __init__(self) -> None:
        self.log: list[tuple[int, float, float | None]] = []

    async def lead(self, epoch: int) -> None:
        loop = asyncio.get_running_loop()
        self.log.append((epoch, loop.time(), None))
        try:
            await asyncio.sleep(10_000)
        finally:
            self.log[-1] = (epoch, self.log[-1][1], loop.time())


async def test_waits_for_a_lease_held_elsewhere_then_leads() -> None:
    lease, terms = ScriptedLease([], free_after=30.0), Terms()
    runner = asyncio.create_task(hold(lease, terms.lead, TIMING, _terms=1))
    await asyncio.sleep(60)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert len(terms.log) == 1
    epoch, started, _ = terms.log[0]
    assert epoch == 1 and 30.0 <= started <= 30.0 + TIMING.retry_every


async def test_a_lost_lease_ends_the_term_at_the_next_renewal() -> None:
    lease, terms = ScriptedLease([True, True, False]), Terms()
    await hold(lease, terms.lead, TIMING, _terms=1)
    ((_, started, ended),) = terms.log
    assert ended is not None and ended - started == pytest.approx(3 * TIMING.renew_every, abs=0.01)


async def test_unreachable_redis_ends_the_term_before_the_lease_can_expire() -> None:
    """Renewals fail (Redis gone): the holder cannot know whether its lease still stands, and stops
    leading while it surely does; then it asks for the lease again, as everyone else does."""
    gone = ConnectionError("gone")
    lease, terms = ScriptedLease([True, gone, gone, gone]), Terms()
    await hold(lease, terms.lead, TIMING, _terms=2)
    (_, _, first_end), (second_epoch, second_start, _) = terms.log
    last_renewal = lease.renewed[0]
    assert first_end is not None
    assert first_end - last_renewal < TIMING.ttl  # never led while the lease may have moved on
    assert first_end - last_renewal >= TIMING.ttl - 2 * TIMING.renew_every  # nor gave up at the first hiccup
    assert second_epoch == 2 and second_start >= first_end + TIMING.retry_every


async def test_a_renewal_that_hangs_counts_as_failed() -> None:
    class Hanging(ScriptedLease):
        async def renew(self) -> bool:
            await asyncio.sleep(3600)
            return True

    lease, terms = Hanging([]), Terms()
    await hold(lease, terms.lead, TIMING, _terms=1)
    ((_, started, ended),) = terms.log
    assert ended is not None and ended - started < TIMING.ttl


async def test_a_stalled_leader_gives_the_lease_back() -> None:
    lease, terms = ScriptedLease([]), Terms()
    stalled_from = 5.0
    loop = asyncio.get_running_loop()
    start = loop.time()
    await hold(lease, terms.lead, TIMING, stalled=lambda: loop.time() - start >= stalled_from, _terms=1)
    ((_, _, ended),) = terms.log
    assert ended is not None and stalled_from <= ended - start <= stalled_from + TIMING.renew_every
    assert lease.released and lease.released[0] == pytest.approx(ended, abs=0.01)


async def test_a_leader_that_fails_ends_its_term_and_the_lease_is_given_back() -> None:
    lease = ScriptedLease([])

    async def failing(epoch: int) -> None:
        await asyncio.sleep(2.5)
        raise RuntimeError("bug")

    await hold(lease, failing, TIMING, _terms=1)
    assert len(lease.released) == 1


async def test_timing_leaves_room_for_a_failed_renewal() -> None:
    with pytest.raises(ValueError):
        Timing(ttl=2.0, renew_every=1.0)


async def test_after_a_stall_it_leaves_the_lease_to_others_for_a_ttl() -> None:
    lease, terms = ScriptedLease([]), Terms()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await hold(lease, terms.lead, TIMING, stalled=lambda: loop.time() - start >= 2.0, _terms=2)
    (_, _, first_end), (_, second_start, _) = terms.log
    assert first_end is not None and second_start - first_end >= TIMING.ttl


async def test_a_slow_acquire_counts_from_when_the_lease_was_asked_for() -> None:
    """Redis answered the acquire late: the lease may have been set at once, so its ttl runs from
    the question; with every renewal failing, leading ends before that ttl is over."""

    class SlowAcquire(ScriptedLease):
        async def acquire(self) -> int | None:
            self.asked = asyncio.get_running_loop().time()
            await asyncio.sleep(2.5)
            return await super().acquire()

    gone = ConnectionError("gone")
    lease, terms = SlowAcquire([gone] * 10), Terms()
    await hold(lease, terms.lead, TIMING, _terms=1)
    ((_, _, ended),) = terms.log
    assert ended is not None and ended < lease.asked + TIMING.ttl
