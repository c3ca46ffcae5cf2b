"""A swarm's model in one process of a deployment that shares Redis: what the views read instead of
a watcher of their own.

Every process follows the replicated model (replica.Follower); the one that holds the swarm's lease
also runs the watcher and publishes (leader.lead), and sees its own model come back through the
stream like everyone else, so that every process serves the same seq of the same epoch. Docker is
asked by the holder alone: its load is the same with one process or ten.

The read side is a Watcher's (``snapshot``, ``docker_age``, ``wait_for``, ``subscribe``, ...), so
that the registry can hold either. A model loaded from a keyframe (the first, a new epoch, a gap)
is told to ``on_model`` subscribers: every viewer of this process needs the whole model again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from dashboard.agent.messages import AgentMessage
from dashboard.core.agents_store import TaskWord
from dashboard.core.agents_usage import UsageFrame
from dashboard.core.domain import Task
from dashboard.core.model import Snapshot
from dashboard.core.shared.agents_relay import AgentRelay
from dashboard.core.shared.leader import lead
from dashboard.core.shared.lease import Keys, Lease, Timing, hold
from dashboard.core.shared.replica import Change, Follower, Publisher
from dashboard.core.watch import Watcher, WatchSettings
from dashboard.core.watch.agent_side import ResendAsker, UsageSubscriber
from dashboard.core.watch.base import Subscriber, clock

log = logging.getLogger(__name__)

ModelSubscriber = Callable[[int, Snapshot], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SharedSettings:
    timing: Timing = field(default_factory=Timing)
    beat_every: float = 1.0  # the leader's word on an idle swarm: followers judge Docker's age by it
    block: float = 5.0  # a follower's wait for the stream's next entry
    stalled_after: float = 30.0  # the leader gives the lease back when its watcher has not moved this long
    # ... or has not heard from Docker this long (this process cannot reach it: maybe another can)
    unreachable_after: float = 30.0


class Replicated:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        holder: str,
        new_watcher: Callable[[], Watcher],
        settings: WatchSettings,
        shared: SharedSettings | None = None,
    ) -> None:
        self.settings = settings
        self.shared = shared or SharedSettings()
        self.redis, self.keys, self.holder = redis, keys, holder
        self.follower = Follower(redis, keys, block=self.shared.block)
        self.lease = Lease(redis, keys, holder, self.shared.timing.ttl)
        self._new_watcher = new_watcher
        self.leader: Watcher | None = None  # while this process leads
        self.terms = 0  # terms this process has led
        self._term_started = 0.0
        self._subscribers: list[Subscriber] = []
        self._model_subscribers: list[ModelSubscriber] = []
        self._changed = asyncio.Condition()
        self.follower.subscribe(self._on_change)
        self.relay = AgentRelay(redis, keys)
        self._usage_subscribers: list[UsageSubscriber] = []
        self._resend_askers: list[ResendAsker] = []

    # --- what the views read, as of a Watcher -----------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self.follower.snapshot

    @property
    def epoch(self) -> int:
        return self.follower.epoch

    @property
    def events_seen(self) -> int:
        return self.leader.events_seen if self.leader is not None else 0

    def docker_age(self) -> float | None:
        return self.follower.docker_age()

    def stalled_for(self) -> float:
        """Seconds since the follower's loop last turned (it waits ``block`` at most per turn)."""
        turned = self.follower.turned_at
        return 0.0 if turned is None else clock() - turned

    def request_counts(self) -> Counter[str]:
        return self.leader.request_counts() if self.leader is not None else Counter()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def subscribe_model(self, subscriber: ModelSubscriber) -> None:
        self._model_subscribers.append(subscriber)

    def poke(self, *, secrets: bool = False, services: Iterable[str] = ()) -> None:
        """Re-list these soon (this process's own writes): the leader's watcher, wherever it runs."""
        if self.leader is not None:
            self.leader.poke(secrets=secrets, services=services)
            return
        message = json.dumps({"secrets": secrets, "services": list(services)})
        task = asyncio.get_running_loop().create_task(self._send_poke(message), name="replicated-poke")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # logged in _send_poke

    async def _send_poke(self, message: str) -> None:
        try:
            await self.relay.push(self.relay.pokes_key, message)
        except Exception as e:  # the reconcile catches the change all the same, a little later
            log.warning("a re-list request could not be passed to the leader: %s", e)

    # --- the node agents (dashboard.core.shared.agents_relay) ---------------------------------------

    async def agent_said(self, node_id: str, conn: str, message: AgentMessage, text: str) -> None:
        """An agent's message, for the leader's watcher: here, or through Redis (promptly: BLPOP)."""
        if self.leader is not None:
            self.leader.agent_said(node_id, conn, message)
        else:
            await self.relay.send(node_id, conn, text)

    async def agent_gone(self, node_id: str, conn: str) -> None:
        if self.leader is not None:
            self.leader.agent_gone(node_id, conn)
        else:
            await self.relay.send(node_id, conn, None)

    async def agent_word(self, task: Task) -> TaskWord | None:
        if self.leader is not None:
            return self.leader.agent_word(task)
        return await self.relay.word(task.id, task.node_id) if task.node_id else None

    def subscribe_resend(self, asker: ResendAsker) -> None:
        """For the leader's watcher, whichever process it runs in: the asker reaches any process's
        socket (the channel layer)."""
        self._resend_askers.append(asker)

    def subscribe_usage(self, subscriber: UsageSubscriber) -> None:
        """Every usage frame the leader makes, read back from Redis by this process."""
        self._usage_subscribers.append(subscriber)

    async def _on_usage(self, frame: UsageFrame) -> None:
        for subscriber in list(self._usage_subscribers):
            try:
                await subscriber(frame)
            except Exception:
                log.exception("a usage subscriber failed")

    async def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.snapshot))
        return self.snapshot

    async def report_crash(self, exc: BaseException) -> None:
        log.error("the replicated model of %s stopped: %r", self.keys.prefix, exc)

    # --- running --------------------------------------------------------------------------------------

    async def _on_change(self, change: Change) -> None:
        async with self._changed:
            self._changed.notify_all()
        if change.patch is None:
            for model_subscriber in list(self._model_subscribers):
                await model_subscriber(change.epoch, change.snapshot)
            return
        for subscriber in list(self._subscribers):
            await subscriber(change.snapshot, change.patch)

    async def _lead(self, epoch: int) -> None:
        watcher = self._new_watcher()
        for asker in self._resend_askers:  # a new term knows no agent's word: each is asked again
            watcher.subscribe_resend(asker)
        self.leader = watcher
        self._term_started = clock()
        self.terms += 1
        publisher = Publisher(self.redis, self.keys, self.holder, epoch)

        async def pokes() -> None:
            # pokes and agents' words wake the leader at once (BLPOP), not at its next beat
            while True:
                try:
                    await self.relay.take(watcher, timeout=self.shared.beat_every)
                except Exception as e:
                    log.warning("re-list requests and agents' words cannot be taken from Redis: %s", e)
                    await asyncio.sleep(self.shared.beat_every)

        async def usage(frame: UsageFrame) -> None:
            outputs = watcher.agents.drain_outputs()
            try:
                await self.relay.publish(frame, outputs)
            except Exception as e:  # the next frame goes, a few seconds later, with these outputs
                watcher.agents.restore_outputs(outputs)
                log.warning("a usage frame could not be written: %s", e)

        with contextlib.suppress(Exception):
            await self.relay.forget_outputs()
        watcher.agents.track_outputs = True
        watcher.subscribe_usage(usage)
        poker = asyncio.create_task(pokes(), name="replicated-pokes")
        try:
            await lead(watcher, publisher, beat_every=self.shared.beat_every)
        finally:
            poker.cancel()
            await asyncio.gather(poker, return_exceptions=True)
            self.leader = None

    def _leader_stalled(self) -> bool:
        leader = self.leader
        if leader is None:
            return False
        if leader.stalled_for() > self.shared.stalled_after:
            return True
        age = leader.docker_age()
        unheard = clock() - self._term_started if age is None else age
        return unheard > self.shared.unreachable_after

    async def run(self) -> None:
        """Follow the model for ever, and lead whenever this process holds the lease."""
        holding = asyncio.create_task(
            hold(self.lease, self._lead, self.shared.timing, stalled=self._leader_stalled), name="replicated-lease"
        )
        usage = asyncio.create_task(self.relay.follow_usage(self._on_usage), name="replicated-usage")
        try:
            await self.follower.run()
        finally:
            holding.cancel()
            usage.cancel()
            await asyncio.gather(holding, usage, return_exceptions=True)
