"""One watcher per process: keeps dashboard.state's Snapshot equal to Docker's truth.

The loop, from the outside in (each a small method):
  run        reconnect loop with capped exponential backoff; a full resync after every (re)connect
  _session   open /events, list everything, then follow: events and the refresher side by side
  _events    each event is a hint, never data: it marks what to re-list; a silent stream is
             pinged when nothing else has heard from Docker for half the liveness bound
  _refresher waits for hints (a burst coalesced), periodic reconciles and settle follow-ups, and
             re-lists only what they name

Docker has no task events and a manager only sees its own node's containers, so after an event a
service's tasks are re-listed until they settle (bounded), and a periodic reconcile of /tasks
catches what no event says (pending, rejected, tasks failing on workers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dashboard.docker_client import (
    DaemonUnreachable,
    DockerAPIError,
    DockerClient,
    DockerProblem,
    Event,
)
from dashboard.domain import Config, Node, Secret, Service, Task
from dashboard.state import FINAL_STATES, ConnectionState, Patch, Snapshot, Status, advance

log = logging.getLogger(__name__)
TIMER_SLACK = 0.001  # seconds: what a timer firing early may be off by
REPLAY_SECONDS = 1.0  # what a reopened /events stream brings this soon is its replay of the past

Subscriber = Callable[[Snapshot, Patch], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WatchSettings:
    reconcile: float = 8.0  # seconds between re-lists of /tasks
    full_every: int = 8  # every Nth reconcile re-lists nodes and services too
    liveness: float = 60.0  # a stream silent this long must prove it is alive (ping, reopen)
    backoff_initial: float = 0.25
    backoff_max: float = 10.0
    coalesce: float = 0.02  # a burst of events within this window makes one re-list
    settle_for: float = 15.0  # after an event, re-list a service's tasks until they settle, this long at most
    settle_first: float = 0.2
    settle_max_interval: float = 2.0


# container actions after which a task's state may differ; healthchecks alone make exec_* every few seconds
TASK_ACTIONS = frozenset({"create", "start", "restart", "die", "kill", "oom", "stop", "destroy", "pause", "unpause"})


def _moves_a_task(action: str) -> bool:
    return action in TASK_ACTIONS or action.startswith("health_status")


def _clock() -> float:
    """The event loop's clock (monotonic in production; a test's loop may fast-forward it)."""
    return asyncio.get_running_loop().time()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _settled(tasks: Iterable[Task]) -> bool:
    """No task of the service is on its way anywhere: each is where its desired state says."""
    for task in tasks:
        if task.desired_state == "running" and task.state not in ("running", *FINAL_STATES):
            return False
        if task.desired_state in ("shutdown", "remove") and task.state not in FINAL_STATES:
            return False
    return True


@dataclass
class _Dirty:
    """What the events since the last refresh asked to re-list."""

    services: set[str] = field(default_factory=set)  # re-list these services
    removed_services: set[str] = field(default_factory=set)
    service_tasks: set[str] = field(default_factory=set)  # re-list these services' tasks
    nodes: bool = False
    node_tasks: set[str] = field(default_factory=set)  # re-list the tasks on these nodes
    secrets: bool = False
    configs: bool = False
    everything: bool = False  # list it all: some events may be lost

    def __bool__(self) -> bool:
        return bool(
            self.everything
            or self.services
            or self.removed_services
            or self.service_tasks
            or self.nodes
            or self.node_tasks
            or self.secrets
            or self.configs
        )


class TaskTable:
    """The tasks as last listed, indexed by service and node so that re-listing one service's or
    node's tasks costs what they cost, not what the whole swarm costs, and remembering which tasks
    were touched since the last publish (None: all of them)."""

    def __init__(self) -> None:
        self.items: dict[str, Task] = {}
        self._by_service: dict[str, set[str]] = {}
        self._by_node: dict[str, set[str]] = {}
        self.touched: set[str] | None = None

    def replace_all(self, tasks: Iterable[Task]) -> None:
        self.items = {t.id: t for t in tasks}
        self._by_service, self._by_node = {}, {}
        for task in self.items.values():
            self._index(task)
        self.touched = None

    def replace(self, *, services: Iterable[str] = (), nodes: Iterable[str] = (), fresh: Iterable[Task]) -> None:
        """Drop the tasks of these services / on these nodes, then add ``fresh`` (their new listing)."""
        gone: set[str] = set()
        for service_id in services:
            gone |= self._by_service.get(service_id, set())
        for node_id in nodes:
            gone |= self._by_node.get(node_id, set())
        for task_id in gone:
            self._unindex(self.items.pop(task_id))
        added = []
        for task in fresh:
            if task.id in self.items:
                self._unindex(self.items[task.id])
            self.items[task.id] = task
            self._index(task)
            added.append(task.id)
        self._touch(gone.union(added))

    def _touch(self, ids: set[str]) -> None:
        if self.touched is not None:
            self.touched |= ids

    def published(self) -> None:
        self.touched = set()

    def _index(self, task: Task) -> None:
        self._by_service.setdefault(task.service_id, set()).add(task.id)
        self._by_node.setdefault(task.node_id, set()).add(task.id)

    def _unindex(self, task: Task) -> None:
        self._by_service.get(task.service_id, set()).discard(task.id)
        self._by_node.get(task.node_id, set()).discard(task.id)

    def services_on(self, node_id: str) -> set[str]:
        return {self.items[i].service_id for i in self._by_node.get(node_id, ())}

    def of_service(self, service_id: str) -> list[Task]:
        return [self.items[i] for i in self._by_service.get(service_id, ())]


class Watcher:
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
        self._dirty = _Dirty()
        self._wake = asyncio.Event()
        # service -> deadline, next re-list at, interval, and the hint's number (see _follow_settling)
        self._settling: dict[str, tuple[float, float, float, int]] = {}
        self._hints = 0
        self._changed = asyncio.Condition()
        self.events_seen = 0
        self.progress_at: float | None = None  # the loop time the watcher last moved (liveness)
        self._last_ok: float | None = None  # the last answer from Docker to a closed client (loop time)
        self.syncs = 0  # full syncs done: a session that made one worked, and backoff starts over

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
        return 0.0 if self.progress_at is None else _clock() - self.progress_at

    def docker_age(self) -> float | None:
        """Seconds since Docker last answered this watcher (any request, a ping, an event); None: never."""
        answers = [t for t in (self._last_ok, self._client.last_ok if self._client else None) if t is not None]
        return _clock() - max(answers) if answers else None

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
        backoff = self.settings.backoff_initial
        attempt = 0
        while _iterations is None or attempt < _iterations:
            attempt += 1
            client = self._client = self._client_factory()
            self.progress_at = _clock()
            synced_before = self.syncs
            internal = False
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
                internal = True
                await self.report_crash(e)
            finally:
                self._client = None
                self._requests.update(client.requests)
                if client.last_ok is not None:
                    self._last_ok = max(self._last_ok or client.last_ok, client.last_ok)
                await client.close()
            if self.syncs != synced_before and not internal:
                backoff = self.settings.backoff_initial  # that session worked: retry fast
            self.progress_at = _clock()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.backoff_max)

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

    async def _events(self, client: DockerClient, opened: asyncio.Event) -> None:
        """Read /events into hints. Silence is what an idle swarm sounds like: it needs a proof of
        life only when nothing else has heard from Docker lately (the reconcile usually has). But a
        half-open stream (typical behind proxies: new connections still work, this one carries
        nothing) looks exactly like silence, so a stream silent for most of the liveness bound is
        reopened from where it stopped; ``since`` replays what the dead one missed."""
        since: int | None = None
        seen_at_last_second: set[tuple[int, str, str, str]] = set()
        # worst case, Docker last answered just before freezing: silence is noticed within a
        # quarter, a proof of life is due after half, and the ping gets a quarter -> within the bound
        # the reopen comes after three quarters of silence and has the last quarter to answer
        quarter = self.settings.liveness / 4
        # a reopen after silence: (loop time, the last second the old stream brought)
        reopened: tuple[float, int] | None = None
        while True:
            silent_since = _clock()
            async for event in client.events(since=since, liveness=quarter, opened=opened):
                if event is None:
                    if client.last_ok is None or _clock() - client.last_ok >= 2 * quarter:
                        await client.ping(timeout=quarter)
                    if _clock() - silent_since + TIMER_SLACK >= 3 * quarter:
                        break
                    continue
                silent_since = _clock()
                if event.time_nano > 0:  # an event without a time cannot place the stream, nor repeat
                    key = (event.time_nano, event.type, event.action, event.actor_id)
                    if key in seen_at_last_second:
                        continue  # `since` is inclusive: a reopened stream repeats its last second
                    second = event.time_nano // 1_000_000_000
                    if since is None or second > since:
                        seen_at_last_second = set()
                    since = second
                    seen_at_last_second.add(key)
                    if reopened is not None and _clock() - reopened[0] <= REPLAY_SECONDS and second > reopened[1]:
                        # replayed at once, newer than anything the silent stream brought: it was
                        # half-open, and Docker replays at most 256 events - list everything
                        self._dirty.everything = True
                        self._wake.set()
                        reopened = None
                self.events_seen += 1
                self._hint(event)
            if since is not None:
                reopened = (_clock(), since)
            if since is None:
                since = int(time.time() - (_clock() - silent_since)) - 1

    def _hint(self, event: Event) -> None:
        dirty = self._dirty
        if event.type == "service":
            if event.action == "remove":
                dirty.removed_services.add(event.actor_id)
            else:
                dirty.services.add(event.actor_id)
                dirty.service_tasks.add(event.actor_id)
                self._settle(event.actor_id)
        elif event.type == "node":
            dirty.nodes = True
            dirty.node_tasks.add(event.actor_id)
            # a node that goes down or comes back moves its tasks for seconds after its one event
            # (failed, rescheduled, started again), on daemons the manager does not hear from
            for service_id in self._tasks.services_on(event.actor_id):
                self._settle(service_id)
        elif event.type == "secret":
            dirty.secrets = True
        elif event.type == "config":
            dirty.configs = True
        elif event.type == "container":
            service_id = event.attr("com.docker.swarm.service.id")
            if not service_id or not _moves_a_task(event.action):
                return  # not a swarm task's container, or an exec/attach/resize that changes no task
            dirty.service_tasks.add(service_id)
            self._settle(service_id)
        else:
            return
        self._wake.set()

    def _settle(self, service_id: str) -> None:
        now = _clock()
        self._hints += 1
        self._settling[service_id] = (
            now + self.settings.settle_for,
            now + self.settings.settle_first,
            0.0,
            self._hints,
        )

    async def _refresher(self, client: DockerClient) -> None:
        s = self.settings
        next_reconcile = _clock() + s.reconcile
        reconciles = 0
        while True:
            now = _clock()
            wake_at = min([next_reconcile, *(at for _, at, _, _ in self._settling.values())])
            if not self._wake.is_set() and wake_at > now:
                try:
                    async with asyncio.timeout(wake_at - now):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            if self._wake.is_set():
                await asyncio.sleep(s.coalesce)  # let the rest of a burst arrive: one re-list for all of it
                self._wake.clear()
            # a timer may fire a hair before its time (clock resolution): count that as due, or
            # the loop would spin on it
            now = _clock() + TIMER_SLACK
            dirty, self._dirty = self._dirty, _Dirty()
            dirty.service_tasks |= {sid for sid, (_, at, _, _) in self._settling.items() if at <= now}
            hints_before = self._hints
            self.progress_at = _clock()
            if now >= next_reconcile:
                reconciles += 1
                full = dirty.everything or reconciles % s.full_every == 0
                await self._reconcile(client, full=full, dirty=dirty)
                next_reconcile = _clock() + s.reconcile
            elif dirty.everything:
                await self._list_everything(client)
            elif dirty:
                await self._targeted(client, dirty)
            self._follow_settling(dirty.service_tasks, hints_before)
            await self._publish()

    def _follow_settling(self, relisted: set[str], hints_before: int) -> None:
        """After a re-list: each service followed is settled (done), or re-listed again later. A hint
        that came while the listing was in flight is judged by the next listing, not this older one."""
        now = _clock()
        for service_id in relisted & set(self._settling):
            deadline, _, interval, hint = self._settling[service_id]
            if hint > hints_before:
                continue
            tasks = self._tasks.of_service(service_id)
            # no task yet is not settled: a new service's first tasks are on their way
            if now >= deadline or service_id not in self._services or (tasks and _settled(tasks)):
                del self._settling[service_id]
                continue
            interval = min(max(interval * 2, self.settings.settle_first), self.settings.settle_max_interval)
            self._settling[service_id] = (deadline, now + interval, interval, hint)

    # --- listing ----------------------------------------------------------------------------------

    async def _full_sync(self, client: DockerClient) -> None:
        await client.check_manager()
        await self._list_everything(client)
        self.syncs += 1
        self._status = Status(state="live", since=_now_iso())
        await self._publish()

    async def _list_everything(self, client: DockerClient) -> None:
        """Nodes, services, tasks, secrets and configs, listed together: whatever any hint asked for
        is covered. Secrets and configs are cheap, so the full reconcile re-lists them too (the
        safety net for an event that never came, the dashboard's own writes included)."""
        nodes, services, tasks, secrets, configs = await asyncio.gather(
            client.nodes(), client.services(), client.tasks(), client.secrets(), client.configs()
        )
        self._secrets = {x.id: x for x in secrets}
        self._configs = {x.id: x for x in configs}
        self._nodes = {n.id: n for n in nodes}
        self._services = {s.id: s for s in services}
        self._tasks.replace_all(self._of_known_services(tasks))

    def _of_known_services(self, tasks: Iterable[Task]) -> list[Task]:
        """A removed service's tasks stay in Docker's /tasks for a while (shutting down, then
        deleted by the orchestrator); the model drops them with the service, at once and for good,
        instead of showing them as nameless ghosts whenever a listing happens to catch them."""
        return [t for t in tasks if t.service_id in self._services]

    async def _reconcile(self, client: DockerClient, *, full: bool, dirty: _Dirty) -> None:
        if full:
            await self._list_everything(client)
            return
        # the services, nodes, secrets and configs events asked for still need their own re-list
        await self._targeted(
            client,
            _Dirty(
                services=dirty.services,
                removed_services=dirty.removed_services,
                nodes=dirty.nodes,
                secrets=dirty.secrets,
                configs=dirty.configs,
            ),
        )
        self._tasks.replace_all(self._of_known_services(await client.tasks()))

    async def _targeted(self, client: DockerClient, dirty: _Dirty) -> None:
        for service_id in dirty.removed_services:
            self._services.pop(service_id, None)
        if dirty.removed_services:
            self._tasks.replace(services=dirty.removed_services, fresh=())
        dirty.services -= dirty.removed_services
        try:
            services, nodes, by_node, secrets, configs = await asyncio.gather(
                client.services(ids=tuple(sorted(dirty.services))) if dirty.services else _none(),
                client.nodes() if dirty.nodes else _none(),
                client.tasks(node_ids=tuple(sorted(dirty.node_tasks))) if dirty.node_tasks else _none(),
                client.secrets() if dirty.secrets else _none(),
                client.configs() if dirty.configs else _none(),
            )
            if secrets is not None:
                self._secrets = {x.id: x for x in secrets}
            if configs is not None:
                self._configs = {x.id: x for x in configs}
            if services is not None:
                for service_id in dirty.services:
                    self._services.pop(service_id, None)
                self._services.update((s.id, s) for s in services)
                gone = dirty.services - {s.id for s in services}
                if gone:  # removed, its event not yet read: its tasks go with it
                    self._tasks.replace(services=gone, fresh=())
            if nodes is not None:
                self._nodes = {n.id: n for n in nodes}
            if by_node is not None:
                self._tasks.replace(nodes=dirty.node_tasks, fresh=self._of_known_services(by_node))
            # the services' own tasks come last, once the services are known (a new one's first
            # tasks included): where a node's listing and a service's overlap, the later answer is
            # applied last - two answers in flight at once could land in either order
            service_tasks = tuple(sorted((dirty.service_tasks - dirty.removed_services) & set(self._services)))
            if service_tasks:
                by_service = await client.tasks(service_ids=service_tasks)
                self._tasks.replace(services=service_tasks, fresh=self._of_known_services(by_service))
        except DockerAPIError as e:
            if e.status != 404:
                raise
            # a service or node went away between the event and the re-list: list everything,
            # which covers every kind this re-list was asked for
            await self._list_everything(client)

    # --- publishing -------------------------------------------------------------------------------

    async def _set_status(self, state: ConnectionState, *, reason: str = "", kind: str = "") -> None:
        if self._status.state != state or self._status.reason != reason:
            self._status = Status(state=state, since=_now_iso(), reason=reason, kind=kind)
            try:
                await self._publish()
            except Exception:
                log.exception("publishing the status %s failed", state)

    async def _publish(self) -> None:
        new = Snapshot.build(
            seq=self.snapshot.seq,
            status=self._status,
            nodes=self._nodes,
            services=self._services,
            tasks=self._tasks.items,
            secrets=self._secrets,
            configs=self._configs,
        )
        # a node's change can orphan (or free) tasks nobody re-listed: then compare them all
        touched = self._tasks.touched if new.nodes == self.snapshot.nodes else None
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


async def _none() -> None:
    return None
