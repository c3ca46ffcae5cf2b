"""One term of leadership: run the watcher and publish its model through Redis.

Nothing is published before the watcher's first full answer from Docker: the term's keyframe is
the first live model, so that a leader change never replaces every page's model with an empty one
(a new leader that cannot reach Docker publishes nothing, and gives the lease back: see
replicated.Replicated); only a deployment that has no model at all gets the error as its first.
Then every patch follows it, in order, and a beat on an idle swarm says the seq reached and when
Docker last answered. A write refused by the fence (the lease moved on) ends the term at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from dashboard.core.model import Patch, Snapshot
from dashboard.core.shared.replica import Fenced, Publisher
from dashboard.core.watch import Watcher

log = logging.getLogger(__name__)


def _heard(watcher: Watcher) -> float | None:
    age = watcher.docker_age()
    return None if age is None else time.time() - age


async def lead(watcher: Watcher, publisher: Publisher, *, beat_every: float) -> None:
    """Until cancelled (the lease lost) or fenced out."""
    fenced = asyncio.Event()
    # one writer at a time, and a keyframe only of a model whose patches are all written: a
    # keyframe ahead of the stream would make every follower see a gap at the next patch
    writing = asyncio.Lock()
    published: Snapshot | None = None

    async def publish(snapshot: Snapshot, patch: Patch) -> None:
        nonlocal published
        if fenced.is_set():
            return
        async with writing:
            try:
                if published is None:
                    if snapshot.status.state != "live" and (
                        snapshot.status.state == "connecting" or await publisher.has_keyframe()
                    ):
                        # nothing worth showing yet: followers keep the last model they hold, which
                        # says more than this term's empty one (Docker not reached yet); only when
                        # there is none at all is an error worth publishing as the model
                        return
                    await publisher.keyframe(snapshot)
                else:
                    await publisher.patch(snapshot, patch, _heard(watcher))
                published = snapshot
            except Fenced:
                fenced.set()
            except Exception:
                # Redis refused or went away: followers may have missed this patch, so the next
                # model published is a keyframe, not a patch they cannot place
                published = None
                raise

    async def beat() -> None:
        async with writing:
            if published is None:
                return
            try:
                if await publisher.keyframe_wanted():
                    await publisher.keyframe(published)
                await publisher.beat(published.seq, _heard(watcher))
            except Fenced:
                fenced.set()
            except Exception as e:  # Redis away: the next beat tries again
                log.warning("the leader's beat could not be written: %s", e)

    watcher.subscribe(publish)
    runner = asyncio.create_task(watcher.run(), name="leader-watcher")
    try:
        while not fenced.is_set() and not runner.done():
            try:
                await asyncio.wait_for(fenced.wait(), timeout=beat_every)
            except TimeoutError:
                await beat()
        if runner.done():
            runner.result()  # the watcher's own failure ends the term with it
    finally:
        watcher.unsubscribe(publish)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
