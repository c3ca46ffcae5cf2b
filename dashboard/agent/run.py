"""The agent's two loops, each reconnecting with backoff for ever (an ``_iterations`` bound makes them
testable): one follows the node daemon's events, the other keeps the link to the dashboard.

They meet in a small outbox. The daemon side puts events in it and bumps ``epoch`` every time its
events stream opens; the link side, on every new link and every new epoch, empties it, lists the
node's task containers (so the list comes after the subscription: nothing between the two is
missed) and sends that inventory, then the events that follow.

While the dashboard is away nothing is kept: stats are not even sampled, and events are dropped,
because the inventory sent on reconnect is the daemon's truth at that moment and replayed events
would only be stale hints. Messages go at a pace below what the dashboard takes (link.Link); more
events waiting than a second of that pace sends (a node drained: hundreds of containers stop at
once), or a dashboard too slow to take them (the outbox is bounded, newest kept), are answered the
same way, with a fresh inventory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable

import aiohttp

from dashboard.agent.backoff import Backoff
from dashboard.agent.config import AgentSettings
from dashboard.agent.containers import event_message, fit_inventory
from dashboard.agent.daemon import Identity, NodeDaemon
from dashboard.agent.link import Link, LinkFailed, LinkRefused, open_link
from dashboard.agent.messages import PROTOCOL, Event, Hello, Inventory
from dashboard.agent.sampling import stats_rounds
from dashboard.agent.stats import NodeTotals
from dashboard.core.docker import DockerProblem

log = logging.getLogger("dashboard.agent")

AGENT_VERSION = "0.1.0"
MAX_PENDING_EVENTS = 1000  # a dashboard this far behind gets a fresh inventory instead
LIVENESS_SECONDS = 30.0  # a silent events stream proves the daemon alive (a ping) this often
STABLE_SECONDS = 30.0  # a link or stream that lasted this long resets the backoff


class Agent:
    def __init__(self, settings: AgentSettings, daemon: NodeDaemon, *, backoff_cap: float = 30.0) -> None:
        self.settings, self.daemon = settings, daemon
        self.identity: Identity | None = None
        self.known = asyncio.Event()  # the daemon said who the node is: hello can be said
        self.subscribed = asyncio.Event()  # the events stream is open now
        self.changed = asyncio.Event()  # an event, a new epoch or an overflow waits for the link
        self.epoch = 0
        self.pending: deque[Event] = deque()
        self.overflowed = False  # a fresh inventory is due: events were dropped, or the dashboard asked
        self.backoff_cap = backoff_cap

    # --- the daemon side -----------------------------------------------------------------------

    async def follow_daemon(self, *, _iterations: int | None = None) -> None:
        backoff = Backoff(cap=self.backoff_cap)
        attempt = 0
        while _iterations is None or attempt < _iterations:
            attempt += 1
            started = time.monotonic()
            try:
                await self._follow_once()
            except DockerProblem as e:
                log.error("node daemon: %s", e)
            except Exception:  # a bug or an answer nobody expected: said, and tried again, never fatal
                log.exception("node daemon: unexpected failure")
            finally:
                self.subscribed.clear()
            if time.monotonic() - started >= STABLE_SECONDS:
                backoff.reset()
            delay = backoff.next()
            log.info("node daemon: next attempt in %.1fs", delay)
            await asyncio.sleep(delay)

    async def _follow_once(self) -> None:
        identity = await self.daemon.identity()
        if self.identity is not None and identity.node_id != self.identity.node_id:
            log.warning("node daemon: the node is now %s (was %s)", identity.node_id, self.identity.node_id)
            self.changed.set()
        self.identity = identity
        self.known.set()
        opened = asyncio.Event()
        marker = asyncio.create_task(self._mark_subscribed(opened), name="agent-subscribed")
        try:
            async for event in self.daemon.container_events(liveness=LIVENESS_SECONDS, opened=opened):
                if event is None:
                    await self.daemon.ping(timeout=LIVENESS_SECONDS / 3)
                    continue
                message = event_message(event)
                if message is None:
                    continue
                if message["action"] == "health_status":
                    # the event says the new status only; the output is in the container's state
                    message["output"] = await self.daemon.health_output(message["container_id"])
                self._put(message)
        finally:
            marker.cancel()

    async def _mark_subscribed(self, opened: asyncio.Event) -> None:
        await opened.wait()
        self.epoch += 1
        self.subscribed.set()
        self.changed.set()
        log.info("node daemon: following the events of %s", self.daemon.endpoint.describe())

    def _put(self, message: Event) -> None:
        if len(self.pending) >= MAX_PENDING_EVENTS:
            self.pending.popleft()
            self.overflowed = True
        self.pending.append(message)
        self.changed.set()

    # --- the dashboard side --------------------------------------------------------------------

    def hello(self) -> Hello:
        assert self.identity is not None
        return Hello(
            type="hello",
            protocol=PROTOCOL,
            node_id=self.identity.node_id,
            hostname=self.identity.hostname,
            engine=self.identity.engine,
            agent=AGENT_VERSION,
        )

    async def keep_linked(self, *, _iterations: int | None = None) -> None:
        backoff = Backoff(cap=self.backoff_cap)
        attempt = 0
        async with aiohttp.ClientSession() as session:
            while _iterations is None or attempt < _iterations:
                attempt += 1
                await self.known.wait()  # nothing to say before the daemon said who the node is
                started = time.monotonic()
                try:
                    await self._session(session)
                except LinkRefused as e:
                    log.error("dashboard: %s", e)
                except (LinkFailed, DockerProblem) as e:
                    log.warning("dashboard: %s", e)
                except Exception:
                    log.exception("dashboard: unexpected failure")
                if time.monotonic() - started >= STABLE_SECONDS:
                    backoff.reset()
                delay = backoff.next()
                log.info("dashboard: next attempt in %.1fs", delay)
                await asyncio.sleep(delay)

    async def _session(self, session: aiohttp.ClientSession) -> None:
        """One link: open it, then inventory, events and stats until it breaks (raises LinkFailed)."""
        link = await open_link(session, self.settings, self.hello())
        log.info("dashboard: linked to %s (stats every %gs)", link.where, link.stats_every)
        assert self.identity is not None
        rounds = stats_rounds(self.daemon, NodeTotals.from_info(self.identity.info), link, self.subscribed)
        try:
            raise await _first(link.closed(resend=self.resend), self._serve(link), rounds)
        finally:
            await link.close()

    def resend(self) -> None:
        """The dashboard asked for a fresh inventory (a new leader knows nothing of this node yet)."""
        self.overflowed = True
        self.changed.set()

    async def _serve(self, link: Link) -> LinkFailed:
        """Inventory on every new epoch (and first), events in between; returns only by raising."""
        sent_epoch = -1
        assert self.identity is not None
        said = self.identity.node_id
        while True:
            await self.subscribed.wait()
            if self.identity.node_id != said:  # the node left the swarm and joined it again
                raise LinkFailed(f"this node is now {self.identity.node_id}: saying hello anew")
            self.changed.clear()
            if sent_epoch != self.epoch or self.overflowed:
                sent_epoch = self.epoch
                self.pending.clear()
                self.overflowed = False
                tasks = fit_inventory(await self.daemon.inventory())
                await link.send(Inventory(type="inventory", tasks=tasks))
                log.info("dashboard: sent the inventory (%d task containers)", len(tasks))
            while self.pending and not self.overflowed and sent_epoch == self.epoch:
                if link.behind(len(self.pending)):  # a burst past the pace: one inventory says it all
                    self.overflowed = True
                    self.changed.set()
                    break
                await link.send(self.pending.popleft())
            if not self.changed.is_set():
                await self.changed.wait()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.follow_daemon(), name="agent-daemon")
            group.create_task(self.keep_linked(), name="agent-link")


async def _first(*awaitables: Awaitable[LinkFailed | None]) -> LinkFailed:
    """Runs them together until the first ends; cancels the rest. Its result (a LinkFailed to
    raise), or what it raised."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result = next(iter(done)).result()
    return result if result is not None else LinkFailed("the link ended")
