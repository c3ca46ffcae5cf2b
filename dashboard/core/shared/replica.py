"""The model replicated through Redis: the leader writes, every process keeps a read-only copy.

Layout, per swarm (``Keys``): a stream ``…:log`` of entries, each with ``kind`` and ``epoch``:
  k  a keyframe was written: its ``seq``; the model itself is in the hash ``…:keyframe``
     (``epoch``, ``seq``, ``id`` of this entry, ``model``: zlib-compressed codec JSON)
  p  a patch: ``base_seq``, ``seq``, ``data`` (codec JSON)
  b  a beat: the leader's ``seq`` and when Docker last answered it (``heard``, wall-clock
     seconds), written on an idle swarm so that other processes can tell a live leader, and a
     follower whose model is behind the leader's (the patches it missed trimmed away) can tell
A follower that cannot follow on from the last keyframe sets ``…:want-keyframe``; the leader
writes a new keyframe at its next beat.
Every write is one Lua script that first checks that the writer still holds the lease: a leader
that lost it (stalled, partitioned from Redis) can never write into the next leader's epoch.

A follower loads the keyframe, then reads the stream from the keyframe's entry on, applying each
patch whose ``base_seq`` is its model's seq. Anything else (a new epoch, a gap because the stream
was trimmed past it, an entry it cannot decode) makes it load the keyframe again: it never holds a
model that is not one the leader published, and it never mixes two epochs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dashboard.core.model import Patch, SeqGap, Snapshot, apply
from dashboard.core.shared import codec
from dashboard.core.shared.lease import Keys

log = logging.getLogger(__name__)

STREAM_MAXLEN = 10_000  # entries kept (approximately): a follower further behind loads the keyframe
KEYFRAME_EVERY = 500  # patches: bounds what a follower that starts or falls behind must replay

_FENCED_XADD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
"""
_FENCED_KEYFRAME = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'kind', 'k', 'epoch', ARGV[3], 'seq', ARGV[4])
redis.call('HSET', KEYS[3], 'epoch', ARGV[3], 'seq', ARGV[4], 'id', id, 'model', ARGV[5])
return id
"""


def _log_key(keys: Keys) -> str:
    return f"{keys.prefix}log"


def _keyframe_key(keys: Keys) -> str:
    return f"{keys.prefix}keyframe"


def _want_key(keys: Keys) -> str:
    return f"{keys.prefix}want-keyframe"


class Fenced(Exception):
    """This process no longer holds the lease: what it wrote was refused."""


class Publisher:
    """The leader's writes for one epoch."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        holder: str,
        epoch: int,
        *,
        maxlen: int = STREAM_MAXLEN,
        keyframe_every: int = KEYFRAME_EVERY,
    ) -> None:
        # a keyframe well inside what the stream keeps: a follower that loads it finds the patches after it
        if not 0 < keyframe_every <= maxlen // 4:
            raise ValueError("keyframe_every must be at most a quarter of maxlen")
        self.redis, self.keys, self.holder, self.epoch = redis, keys, holder, epoch
        self.maxlen, self.keyframe_every = maxlen, keyframe_every
        self.since_keyframe = 0

    async def _xadd(self, *fields: Any) -> None:
        written = await self.redis.eval(
            _FENCED_XADD, 2, self.keys.lease, _log_key(self.keys), self.holder, self.maxlen, *fields
        )
        if not written:
            raise Fenced(f"epoch {self.epoch} is over: the lease moved on")

    async def keyframe(self, snapshot: Snapshot) -> None:
        model = zlib.compress(codec.dumps(codec.snapshot_data(snapshot)), 1)
        written = await self.redis.eval(
            _FENCED_KEYFRAME, 3, self.keys.lease, _log_key(self.keys), _keyframe_key(self.keys),
            self.holder, self.maxlen, self.epoch, snapshot.seq, model,
        )  # fmt: skip
        if not written:
            raise Fenced(f"epoch {self.epoch} is over: the lease moved on")
        self.since_keyframe = 0

    async def patch(self, snapshot: Snapshot, patch: Patch, heard: float | None) -> None:
        """One patch; every KEYFRAME_EVERY patches a keyframe of the model it produced, too."""
        data = codec.dumps(codec.patch_data(patch))
        await self._xadd(
            "kind", "p", "epoch", self.epoch, "base_seq", patch.base_seq, "seq", patch.seq,
            "heard", _heard(heard), "data", data,
        )  # fmt: skip
        self.since_keyframe += 1
        if self.since_keyframe >= self.keyframe_every:
            await self.keyframe(snapshot)

    async def beat(self, seq: int, heard: float | None) -> None:
        """The leader's word on an idle swarm: the seq of its last patch, and Docker's last answer."""
        await self._xadd("kind", "b", "epoch", self.epoch, "seq", seq, "heard", _heard(heard))

    async def has_keyframe(self) -> bool:
        return bool(await self.redis.exists(_keyframe_key(self.keys)))

    async def keyframe_wanted(self) -> bool:
        """Has a follower asked for a fresh keyframe (it could not follow on from the last one)?"""
        return bool(await self.redis.getdel(_want_key(self.keys)))


def _heard(heard: float | None) -> str:
    return "" if heard is None else repr(heard)


@dataclass(frozen=True, slots=True)
class Change:
    """What a follower tells its subscribers: a new model (``patch`` None: a keyframe, maybe of a new
    epoch: every viewer needs the model again) or a patch applied to the one they hold."""

    epoch: int
    snapshot: Snapshot
    patch: Patch | None


Subscriber = Callable[[Change], Awaitable[None]]


def _text(fields: dict[bytes, bytes], key: str) -> str:
    value = fields.get(key.encode())
    if value is None:
        raise ValueError(f"entry without {key}")
    return value.decode()


class Follower:
    """A process's read-only copy of a swarm's model, kept from the stream."""

    def __init__(self, redis: Redis, keys: Keys, *, block: float = 5.0, retry: float = 0.25) -> None:
        self.redis, self.keys, self.block, self.retry = redis, keys, block, retry
        self.epoch = 0
        self.snapshot = Snapshot()
        self.heard: float | None = None  # wall-clock seconds when Docker last answered the leader
        self.loaded = 0  # keyframes loaded: the first, then one per epoch change, gap or bad entry
        self._last_id = b"0"
        self._loaded_from: tuple[int, bytes] | None = None
        self.turned_at: float | None = None  # the loop's time at the last turn (liveness)
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def docker_age(self) -> float | None:
        return None if self.heard is None else max(0.0, time.time() - self.heard)

    async def _notify(self, change: Change) -> None:
        for subscriber in list(self._subscribers):
            try:
                await subscriber(change)
            except Exception:
                log.exception("a subscriber of the replicated model failed")

    async def load_keyframe(self) -> bool:
        """The leader's last keyframe as this process's model; False while there is none yet."""
        raw: Any = await self.redis.hgetall(_keyframe_key(self.keys))
        if not raw:
            return False
        try:
            epoch = int(raw[b"epoch"])
            snapshot = codec.snapshot_from(codec.loads(zlib.decompress(raw[b"model"])))
            last_id = raw[b"id"]
        except (KeyError, ValueError, zlib.error) as e:
            log.error("the keyframe in %s cannot be read (%s): waiting for the next one", self.keys.prefix, e)
            return False
        if snapshot.seq != int(raw[b"seq"]):
            log.error("the keyframe in %s disagrees with itself: waiting for the next one", self.keys.prefix)
            return False
        if (epoch, last_id) == self._loaded_from:
            # the same keyframe again, and the stream after it did not follow on (trimmed, or an entry
            # that cannot be read): ask the leader for a new one, and wait for it
            await self.redis.set(_want_key(self.keys), b"1", ex=60)
            await asyncio.sleep(self.retry)
            return False
        self._loaded_from = (epoch, last_id)
        self.epoch, self.snapshot, self._last_id = epoch, snapshot, last_id
        self.loaded += 1
        await self._notify(Change(epoch, snapshot, None))
        return True

    async def _entry(self, fields: dict[bytes, bytes]) -> bool:
        """Apply one stream entry; False when the model must be loaded again from the keyframe."""
        if int(_text(fields, "epoch")) != self.epoch:
            return False
        kind = _text(fields, "kind")
        if kind == "k":
            return int(_text(fields, "seq")) == self.snapshot.seq
        heard = _text(fields, "heard")
        if kind == "b":
            # a beat names the leader's seq: a model behind it missed patches (the stream was trimmed
            # past them while this process was away, or the keyframe it loaded is older than them)
            if int(_text(fields, "seq")) != self.snapshot.seq:
                return False
            self.heard = float(heard) if heard else None
            return True
        if kind != "p":
            raise ValueError(f"unknown entry kind {kind!r}")
        patch = codec.patch_from(codec.loads(fields[b"data"]))
        try:
            snapshot = apply(self.snapshot, patch)
        except SeqGap:
            return False
        self.snapshot = snapshot
        self.heard = float(heard) if heard else None
        await self._notify(Change(self.epoch, snapshot, patch))
        return True

    async def _turn(self, fresh: bool) -> bool:
        """One read of the keyframe or the stream; whether the model may go on from where it is."""
        if not fresh:
            if not await self.load_keyframe():
                await asyncio.sleep(self.retry)
                return False
            return True
        answer: Any = await self.redis.xread(
            {_log_key(self.keys): self._last_id}, count=1000, block=int(self.block * 1000)
        )
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                try:
                    if not await self._entry(fields):
                        return False
                except (ValueError, KeyError) as e:
                    log.error("a stream entry of %s cannot be read (%s): loading the keyframe", self.keys.prefix, e)
                    return False
                self._last_id = entry_id
        return True

    async def run(self, *, _iterations: int | None = None) -> None:
        """For ever (or ``_iterations`` turns): keyframe, then the stream from it. Redis unreachable:
        the model stays as it is (its ``docker_age`` grows) and the follower asks again."""
        turns = 0
        fresh = False
        while _iterations is None or turns < _iterations:
            turns += 1
            self.turned_at = asyncio.get_running_loop().time()
            try:
                fresh = await self._turn(fresh)
            except (RedisError, OSError) as e:
                log.warning("the replicated model of %s cannot be read: %s", self.keys.prefix, e)
                await asyncio.sleep(self.retry)
