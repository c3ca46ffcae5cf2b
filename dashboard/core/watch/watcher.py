"""The watcher of one swarm: keeps a Snapshot equal to Docker's truth and publishes every change.

The loop, from the outside in:
  run        reconnect loop with capped exponential backoff; a full resync after every (re)connect;
             a failure that is not Docker's is published as an internal error, never as "live"
  _session   open /events, list everything, then follow: the events follower (follower.py) and
             the refresher (refresher.py) side by side
  _publish   the next snapshot and its patch, to every subscriber
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable

from dashboard.core.agents_store import AgentKnowledge
from dashboard.core.docker import DaemonUnreachable, DockerClient, DockerProblem
from dashboard.core.domain import Config, Node, Secret, Service
from dashboard.core.model import ConnectionState, Snapshot, Status, advance
from dashboard.core.watch.agent_side import AgentSide, ResendAsker, UsageSubscriber
from dashboard.core.watch.base import Dirty, Subscriber, TaskTable, WatchSettings, clock, now_iso
from dashboard.core.watch.follower import Follower
from dashboard.core.watch.refresher import Refresher

log = logging.getLogger(__name__)


class Watcher(Follower, Refresher, AgentSide):
    # which model its seqs belong to: one process on its own has one; a replicated model counts a
    # new one each time another process takes the watcher over (dashboard.core.shared)
    epoch = 0

    def __init__(self, client_factory: Callable[[], DockerClient], settings: WatchSettings | None = None) -> None:
        self.settings = settings or WatchSettings()
        self._client_factory = client_factory
        self.snapshot = Snapshot()
        self._subscribers: list[Subscriber] = []
        self._requests: Counter[str] = Counter()  # of closed clients; see request_counts()
        self._client: DockerClient | None = None
        self._nodes: dict[str, Node] = {}
        self._services: dict[str, Service] = {}
        self._tasks = TaskTable()
        self._secrets: dict[str, Secret] = {}
        self._configs: dict[str, Config] = {}
        self._status = Status()
        self._dirty = Dirty()
        self._wake = asyncio.Event()
        # service -> deadline, next re-list at, interval, and the hint's number (see _follow_settling)
        self._settling: dict[str, tuple[float, float, float, int]] = {}
        self._hints = 0
        self._changed = asyncio.Condition()
        self.events_seen = 0
        self.progress_at: float | None = None  # the loop time the watcher last moved (liveness)
        self._last_ok: float | None = None  # the last answer from Docker to a closed client (loop time)
        self.syncs = 0  # full syncs done: a session that made one worked, and backoff starts over
        self.agents = AgentKnowledge(ttl=self.settings.agent_ttl)
        self._usage_subscribers: list[UsageSubscriber] = []
        self._resend_askers: list[ResendAsker] = []
        self._asking: set[asyncio.Task[None]] = set()
        self._awaiting: dict[str, dict[str, float]] = {}

    # --- what others use ----------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def poke(self, *, secrets: bool = False, services: Iterable[str] = ()) -> None:
        """Re-list these soon: for the dashboard's own writes, which must show even if their
        event is late or lost."""
        self._dirty.secrets |= secrets
        for service_id in services:
            self._dirty.services.add(service_id)
            self._dirty.service_tasks.add(service_id)
            self._settle(service_id)
        self._wake.set()

    def stalled_for(self) -> float:
        """Seconds since the watcher's loop last moved (a session begun, a refresh round, a backoff);
        0 before it ever ran. Every step it waits on is bounded, so a long stall means it is stuck."""
        return 0.0 if self.progress_at is None else clock() - self.progress_at

    def docker_age(self) -> float | None:
        """Seconds since Docker last answered this watcher (any request, a ping, an event); None: never."""
        answers = [t for t in (self._last_ok, self._client.last_ok if self._client else None) if t is not None]
        return clock() - max(answers) if answers else None

    def request_counts(self) -> Counter[str]:
        total = Counter(self._requests)
        if self._client is not None:
            total.update(self._client.requests)
        return total

    async def report_crash(self, exc: BaseException) -> None:
        """The watcher's loop died of ``exc``: the model no longer follows Docker, and says so."""
        # the exception's own text may echo data (it is in the log); the status is public
        reason = f"internal error ({type(exc).__name__}) in the dashboard's watcher: see its log"
        await self._set_status("error", reason=reason, kind="internal")

    async def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        """Until the published snapshot satisfies ``predicate``; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.snapshot))
        return self.snapshot

    # --- the loop -------------------------------------------------------------------------------

    async def run(self, *, _iterations: int | None = None) -> None:
        usage = asyncio.create_task(self._usage_loop(), name="swarm-watcher-usage")
        try:
            await self._run(_iterations)
        finally:
            usage.cancel()
            await asyncio.gather(usage, return_exceptions=True)

    async def _run(self, _iterations: int | None) -> None:
        backoff = self.settings.backoff_initial
        attempt = 0
        while _iterations is None or attempt < _iterations:
            attempt += 1
            self.progress_at = clock()
            if await self._attempt(backoff):
                backoff = self.settings.backoff_initial  # that session worked: retry fast
            self.progress_at = clock()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.backoff_max)

    async def _attempt(self, backoff: float) -> bool:
        """One session with a new client, until it fails; True when it synced and ended on Docker's
        side (a crash of ours never resets the backoff, or a bug would loop at full speed)."""
        try:
            client = self._client = self._client_factory()
        except DockerProblem as e:  # e.g. a DOCKER_HOST that names no daemon at all
            await self._set_status("error", reason=str(e), kind=e.kind)
            return False
        synced_before = self.syncs
        try:
            await self._session(client)
        except DockerProblem as e:
            state: ConnectionState = "reconnecting" if isinstance(e, DaemonUnreachable) else "error"
            log.warning("docker connection %s: %s", state, e)
            await self._set_status(state, reason=str(e), kind=e.kind)
        except Exception as e:
            # a bug, or an answer no parser expected: the model can no longer be trusted to
            # follow Docker, so the status must say so - never "live" over a dead loop
            log.exception("the watcher failed; it starts again after %.1fs", backoff)
            await self.report_crash(e)
            return False
        finally:
            self._client = None
            self._requests.update(client.requests)
            if client.last_ok is not None:
                self._last_ok = max(self._last_ok or client.last_ok, client.last_ok)
            await client.close()
        return self.syncs != synced_before

    async def _session(self, client: DockerClient) -> None:
        opened = asyncio.Event()
        events = asyncio.create_task(self._events(client, opened), name="swarm-watcher-events")
        refresher: asyncio.Task[None] | None = None
        try:
            # the stream first, then the listing: whatever happens in between arrives as a hint
            waiting = asyncio.create_task(opened.wait())
            try:
                done, _ = await asyncio.wait([events, waiting], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if events in done:
                events.result()  # raises what stopped it
            await self._full_sync(client)
            refresher = asyncio.create_task(self._refresher(client), name="swarm-watcher-refresher")
            stopped, _ = await asyncio.wait([events, refresher], return_when=asyncio.FIRST_EXCEPTION)
            for task in stopped:
                task.result()
        finally:
            running = [t for t in (events, refresher) if t is not None]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _set_status(self, state: ConnectionState, *, reason: str = "", kind: str = "") -> None:
        if self._status.state != state or self._status.reason != reason:
            self._status = Status(state=state, since=now_iso(), reason=reason, kind=kind)
            try:
                await self._publish()
            except Exception:
                log.exception("publishing the status %s failed", state)

    async def _publish(self) -> None:
        # Docker's word, with the agents' where the model agrees with them (dashboard.core.agents_store)
        nodes, tasks, agents_touched = self.agents.fold(self._nodes, self._tasks.items)
        new = Snapshot.build(
            seq=self.snapshot.seq,
            status=self._status,
            nodes=nodes,
            services=self._services,
            tasks=tasks,
            secrets=self._secrets,
            configs=self._configs,
        )
        # a node's change can orphan (or free) tasks nobody re-listed: then compare them all
        touched = self._tasks.touched if new.nodes == self.snapshot.nodes else None
        if touched is not None:
            touched = touched | agents_touched
        self.snapshot, patch = advance(self.snapshot, new, tasks_touched=touched)
        self._tasks.published()
        if patch is None:
            return
        async with self._changed:
            self._changed.notify_all()
        for subscriber in list(self._subscribers):
            try:
                await subscriber(self.snapshot, patch)
            except Exception:
                log.exception("a subscriber failed on patch %d", patch.seq)
