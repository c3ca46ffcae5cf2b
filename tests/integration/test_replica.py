"""The model replicated through a real Redis: followers hold exactly the leader's model, patch by
patch, through churn on the real lab; a new leader's epoch replaces the old one's model at once; a
follower that fell behind a trimmed stream, or met an entry it cannot read, reloads a keyframe."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.model import Snapshot, Status, advance, diff
from dashboard.core.shared.leader import lead
from dashboard.core.shared.lease import Keys, Lease
from dashboard.core.shared.replica import Change, Fenced, Follower, Publisher
from dashboard.core.watch import Watcher, WatchSettings
from tests.integration.swarmtruth import docker_reaches, model_matches, running
from tests.integration.test_watcher import PRODUCTION
from tests.lab import Lab, Swarm
from tests.unit.fakedocker import node, service, task

pytestmark = pytest.mark.asyncio(loop_scope="function")
KEYS = Keys.of("default")


class Recorded:
    """A follower's changes as its subscribers see them: every patch must follow the one before."""

    def __init__(self, follower: Follower) -> None:
        self.changes: list[Change] = []
        self.gaps: list[str] = []
        follower.subscribe(self.on_change)

    async def on_change(self, change: Change) -> None:
        last = self.changes[-1] if self.changes else None
        if change.patch is not None and (
            last is None or last.epoch != change.epoch or change.patch.base_seq != last.snapshot.seq
        ):
            self.gaps.append(f"{change.epoch}:{change.patch.base_seq}->{change.patch.seq}")
        self.changes.append(change)


@contextlib.asynccontextmanager
async def running_all(*coros: object) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c) for c in coros]  # type: ignore[call-overload]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _watcher(lab: Lab) -> Watcher:
    return Watcher(lambda: DockerClient(Endpoint(host=lab.docker_host), request_timeout=3), PRODUCTION)


async def test_followers_hold_the_leaders_model_through_churn(lab: Lab, swarm: Swarm, redis: aioredis.Redis) -> None:
    lease = Lease(redis, KEYS, "leader-1", ttl=30)
    epoch = await lease.acquire()
    assert epoch is not None
    watcher = _watcher(lab)
    followers = [Follower(redis, KEYS, block=1.0) for _ in range(2)]
    records = [Recorded(f) for f in followers]
    async with running_all(
        lead(watcher, Publisher(redis, KEYS, "leader-1", epoch), beat_every=1.0), *(f.run() for f in followers)
    ):
        await until(lambda: all(f.snapshot.status.state == "live" for f in followers), 15, "the first keyframe")
        name = await asyncio.to_thread(swarm.create_service, "rep", replicas=3)
        sid = await asyncio.to_thread(swarm.service_id, name)
        for replicas in (3, 6, 1):
            await asyncio.to_thread(swarm.scale, name, replicas)
            await docker_reaches(lab, lambda d, r=replicas: running(d, sid) == r, what=f"{replicas} running")
            for follower in followers:
                await model_matches(lab, follower)
        await until(lambda: all(f.snapshot.seq == watcher.snapshot.seq for f in followers), 2, "followers caught up")
        for follower, record in zip(followers, records, strict=True):
            assert follower.snapshot.same_content(watcher.snapshot)
            assert follower.epoch == epoch and follower.loaded == 1  # one keyframe, then patches only
            assert not record.gaps
            assert sum(1 for c in record.changes if c.patch is not None) >= 3
            age = follower.docker_age()
            assert age is not None and age < 3  # the beats say the leader hears from Docker


def _model(seq_from: Snapshot, tasks: int) -> Snapshot:
    nxt = Snapshot.build(
        seq=0,
        status=Status(state="live"),
        nodes=[node("n1")],
        services=[service("s1", replicas=tasks)],
        tasks=[task(f"t{i}", "s1", "n1", slot=i) for i in range(tasks)],
    )
    return advance(seq_from, nxt)[0]


async def test_a_new_epoch_replaces_the_model_and_the_old_leader_is_fenced_out(redis: aioredis.Redis) -> None:
    old = Lease(redis, KEYS, "old", ttl=30)
    first = await old.acquire()
    assert first is not None
    old_pub = Publisher(redis, KEYS, "old", first)
    s1 = _model(Snapshot(), 2)
    await old_pub.keyframe(s1)
    follower = Follower(redis, KEYS, block=0.2)
    record = Recorded(follower)
    async with running_all(follower.run()):
        await until(lambda: follower.snapshot.seq == s1.seq, 5, "the first keyframe")
        s2 = _model(s1, 3)
        await old_pub.patch(s2, diff(s1, s2), None)
        await until(lambda: follower.snapshot.seq == s2.seq, 5, "the patch")

        # the old leader stalls; its lease expires (here: is taken from it) and a new leader starts over
        await redis.delete(KEYS.lease)
        new = Lease(redis, KEYS, "new", ttl=30)
        second = await new.acquire()
        assert second is not None and second > first
        fresh = _model(Snapshot(), 5)  # the new leader's watcher counts from the start again
        await Publisher(redis, KEYS, "new", second).keyframe(fresh)
        await until(lambda: follower.epoch == second, 5, "the new epoch")
        assert follower.snapshot == fresh and follower.loaded == 2

        with pytest.raises(Fenced):  # the old leader wakes up: nothing it writes lands
            await old_pub.patch(_model(s2, 4), diff(s2, _model(s2, 4)), None)
        await asyncio.sleep(0.5)
        assert follower.epoch == second and follower.snapshot == fresh
        assert not record.gaps


async def test_a_follower_past_a_trimmed_stream_or_a_bad_entry_reloads_a_keyframe(redis: aioredis.Redis) -> None:
    lease = Lease(redis, KEYS, "leader", ttl=30)
    epoch = await lease.acquire()
    assert epoch is not None
    pub = Publisher(redis, KEYS, "leader", epoch, maxlen=40, keyframe_every=10)
    current = _model(Snapshot(), 1)
    await pub.keyframe(current)
    follower = Follower(redis, KEYS, block=0.2, retry=0.05)
    async with running_all(follower.run()):
        await until(lambda: follower.snapshot.seq == current.seq, 5, "the keyframe")
    # the follower is away while 200 patches go by: the stream keeps about 40
    for i in range(200):
        nxt = _model(current, 1 + i % 7)
        await pub.patch(nxt, diff(current, nxt), None)
        current = nxt
    async with running_all(follower.run()):
        await until(lambda: follower.snapshot.seq == current.seq, 5, "caught up from a newer keyframe")
        assert follower.snapshot == current
        # an entry this version cannot read: the follower asks for a keyframe and gets one at the next beat
        await redis.xadd(f"{KEYS.prefix}log", {"kind": "p", "epoch": epoch, "heard": "", "data": b"{nope"})
        nxt = _model(current, 9)
        await pub.patch(nxt, diff(current, nxt), None)
        current = nxt
        await asyncio.sleep(0.5)  # the follower meets the bad entry, then a patch it cannot place
        assert follower.snapshot.seq != current.seq
        if await pub.keyframe_wanted():  # what the leader does at each beat
            await pub.keyframe(current)
        await until(lambda: follower.snapshot.seq == current.seq, 5, "a fresh keyframe after the bad entry")
        assert follower.snapshot == current


async def test_a_follower_behind_the_leaders_seq_learns_it_from_a_beat(redis: aioredis.Redis) -> None:
    """Patches after the keyframe were trimmed away on a quiet night: the next beat names the seq the
    leader reached, and a follower that loaded the old keyframe asks for a new one instead of
    passing its old model off as live."""
    lease = Lease(redis, KEYS, "leader", ttl=30)
    epoch = await lease.acquire()
    assert epoch is not None
    pub = Publisher(redis, KEYS, "leader", epoch)
    current = _model(Snapshot(), 1)
    await pub.keyframe(current)
    for tasks in (2, 3, 4):
        nxt = _model(current, tasks)
        await pub.patch(nxt, diff(current, nxt), None)
        current = nxt
    log_key = f"{KEYS.prefix}log"
    entries: Any = await redis.xrange(log_key)
    patches = [entry_id for entry_id, fields in entries if fields[b"kind"] == b"p"]
    await redis.xdel(log_key, *patches)  # trimmed: only the keyframe's marker and beats remain
    await pub.beat(current.seq, time.time())
    follower = Follower(redis, KEYS, block=0.2, retry=0.05)
    async with running_all(follower.run()):
        await asyncio.sleep(0.5)
        assert follower.snapshot.seq != current.seq  # it knows it is behind: no fresh docker_age for it
        if await pub.keyframe_wanted():  # what the leader does at its next beat
            await pub.keyframe(current)
        await until(lambda: follower.snapshot.seq == current.seq, 5, "the leader's seq")
        assert follower.snapshot == current


async def test_a_new_leader_that_cannot_reach_docker_leaves_the_model_alone(redis: aioredis.Redis) -> None:
    lease = Lease(redis, KEYS, "first", ttl=30)
    epoch = await lease.acquire()
    assert epoch is not None
    good = _model(Snapshot(), 3)
    await Publisher(redis, KEYS, "first", epoch).keyframe(good)
    await redis.delete(KEYS.lease)
    second = Lease(redis, KEYS, "second", ttl=30)
    epoch2 = await second.acquire()
    assert epoch2 is not None
    blind = Watcher(
        lambda: DockerClient(Endpoint(host="unix:///nonexistent/docker.sock"), request_timeout=1),
        WatchSettings(backoff_initial=0.05, backoff_max=0.2),
    )
    term = asyncio.ensure_future(lead(blind, Publisher(redis, KEYS, "second", epoch2), beat_every=0.2))
    try:
        await until(lambda: blind.snapshot.status.state in ("error", "reconnecting"), 10, "the watcher's failure")
        await asyncio.sleep(1.0)
        follower = Follower(redis, KEYS, block=0.2)
        assert await follower.load_keyframe()
        assert follower.snapshot == good and follower.epoch == epoch  # not replaced by an empty error model
    finally:
        term.cancel()
        await asyncio.gather(term, return_exceptions=True)
