"""Patches to this process's sockets, in process: no channel layer on the way, a bounded queue each.

Every process holds the model it serves (its own watcher, or its copy of the one a deployment shares
through Redis), so a patch never has to leave the process to reach its sockets: ``publish`` hands the
patch's text, serialized once, to each socket of the group. Each socket has an ``Outbox``, written
by one task in order: the model when one is due, then patches. A socket whose queue passes its
bound (a client slower than the swarm changes) is not silently left with a gap: its queued patches
are dropped and it is sent the model once instead, read when it goes out (so it covers everything
dropped), however many patches came meanwhile.

Sending the model is the costly step (megabytes at 20,000 tasks); at most ``MODEL_SENDS_AT_ONCE``
sockets of the process send one at a time, so that a reconnect storm after a restart (every wall at
once) is paced and holds a bounded amount of memory in flight; a send keeps its place for
MODEL_SLOT_SECONDS at most, so that slow readers cannot hold every place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)

QUEUE_FRAMES = 500  # patches waiting for one socket before it is sent the model instead
QUEUE_BYTES = 4 * 1024 * 1024
MODEL_SENDS_AT_ONCE = 8

# a model send holds its place this long at most: a client that reads slowly (or asks again and
# again) goes on outside the pacer, on its own connection's backpressure, and never holds back others
MODEL_SLOT_SECONDS = 2.0

_model_sends: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _pacer() -> asyncio.Semaphore:
    """The serving loop's limit on models in flight (one per loop: tests run several loops)."""
    loop = asyncio.get_running_loop()
    found = _model_sends.get(loop)
    if found is None:
        found = _model_sends[loop] = asyncio.Semaphore(MODEL_SENDS_AT_ONCE)
    return found


@contextlib.asynccontextmanager
async def slot() -> AsyncIterator[None]:
    """A place among the models in flight, given back when the send ends or MODEL_SLOT_SECONDS pass."""
    pacer = _pacer()
    await pacer.acquire()
    held = True

    def give_back() -> None:
        nonlocal held
        if held:
            held = False
            pacer.release()

    timer = asyncio.get_running_loop().call_later(MODEL_SLOT_SECONDS, give_back)
    try:
        yield
    finally:
        timer.cancel()
        give_back()


class Outbox:
    """One socket's frames, in order: ``send_model`` when the model is due, else queued patches."""

    def __init__(self, send_text: Callable[[str], Awaitable[None]], send_model: Callable[[], Awaitable[None]]) -> None:
        self._send_text = send_text
        self._send_model = send_model
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._model_due = False
        self._usage: tuple[str, ...] = ()  # the latest usage frame's texts: an older one not yet sent is dropped
        self._wake = asyncio.Event()
        self.coalesced = 0  # times the queue overflowed into a model
        self._task: asyncio.Task[None] | None = None

    def start(self, *, with_model: bool = True) -> None:
        self._model_due = with_model
        self._task = asyncio.get_running_loop().create_task(self._run(), name="socket-outbox")
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._queue.clear()

    def offer(self, text: str) -> None:
        """A patch for this socket (never blocks; the caller is the publisher of every socket)."""
        if self._model_due:
            return  # the model, read when it goes out, will hold this change
        if len(self._queue) >= QUEUE_FRAMES or self._bytes + len(text) > QUEUE_BYTES:
            self.coalesced += 1
            self.want_model()
            return
        self._queue.append(text)
        self._bytes += len(text)
        self._wake.set()

    def offer_usage(self, texts: tuple[str, ...]) -> None:
        """The latest usage frame (dashboard.live.usage): sent after the patches queued before it; it
        never makes a model due, and a newer one replaces it unsent."""
        self._usage = texts
        self._wake.set()

    def want_model(self) -> None:
        """Send the whole model next (a resync, a new epoch, an overflow); what is queued is dropped."""
        self._queue.clear()
        self._bytes = 0
        self._model_due = True
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._model_due or self._queue or self._usage:
                if self._model_due:
                    self._model_due = False
                    async with slot():
                        await self._send_model()
                    continue
                if not self._queue:
                    usage, self._usage = self._usage, ()
                    for text in usage:
                        await self._send_text(text)
                    continue
                text = self._queue.popleft()
                self._bytes -= len(text)
                await self._send_text(text)


_groups: dict[str, set[Outbox]] = {}


def join(group: str, outbox: Outbox) -> None:
    _groups.setdefault(group, set()).add(outbox)


def leave(group: str, outbox: Outbox) -> None:
    members = _groups.get(group)
    if members is not None:
        members.discard(outbox)
        if not members:
            del _groups[group]


def publish(group: str, text: str) -> int:
    """Hand ``text`` to every socket of ``group`` in this process; how many."""
    members = _groups.get(group, ())
    for outbox in members:
        outbox.offer(text)
    return len(members)


def publish_usage(group: str, texts: tuple[str, ...]) -> int:
    """The latest usage frame to every socket of ``group`` in this process; how many."""
    members = _groups.get(group, ())
    for outbox in members:
        outbox.offer_usage(texts)
    return len(members)


def reset(group: str) -> None:
    """A model loaded whole (a new epoch): every socket of ``group`` is sent it again."""
    for outbox in _groups.get(group, ()):
        outbox.want_model()
