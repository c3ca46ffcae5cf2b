"""The events follower: reads /events into hints for the refresher, never into the model.

Docker has no task events, and a manager hears only its own node's containers: an event says what
to re-list, and the refresher's listing is the truth. Silence is what an idle swarm sounds like, so
a silent stream must prove it is alive (a ping) and is reopened before the liveness bound runs out
(a half-open connection looks exactly like silence).
"""

from __future__ import annotations

import asyncio
import time

from dashboard.core.docker import DockerClient, Event
from dashboard.core.watch.base import TIMER_SLACK, WatchState, clock

REPLAY_SECONDS = 1.0  # what a reopened /events stream brings this soon is its replay of the past
# container actions after which a task's state may differ; healthchecks alone make exec_* every few seconds
TASK_ACTIONS = frozenset({"create", "start", "restart", "die", "kill", "oom", "stop", "destroy", "pause", "unpause"})


def _moves_a_task(action: str) -> bool:
    return action in TASK_ACTIONS or action.startswith("health_status")


class Follower(WatchState):
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
            silent_since = clock()
            async for event in client.events(since=since, liveness=quarter, opened=opened):
                if event is None:
                    if client.last_ok is None or clock() - client.last_ok >= 2 * quarter:
                        await client.ping(timeout=quarter)
                    if clock() - silent_since + TIMER_SLACK >= 3 * quarter:
                        break
                    continue
                silent_since = clock()
                if event.time_nano > 0:  # an event without a time cannot place the stream, nor repeat
                    key = (event.time_nano, event.type, event.action, event.actor_id)
                    if key in seen_at_last_second:
                        continue  # `since` is inclusive: a reopened stream repeats its last second
                    second = event.time_nano // 1_000_000_000
                    if since is None or second > since:
                        seen_at_last_second = set()
                    since = second
                    seen_at_last_second.add(key)
                    if reopened is not None and clock() - reopened[0] <= REPLAY_SECONDS and second > reopened[1]:
                        # replayed at once, newer than anything the silent stream brought: it was
                        # half-open, and Docker replays at most 256 events - list everything
                        self._dirty.everything = True
                        self._wake.set()
                        reopened = None
                self.events_seen += 1
                self._hint(event)
            if since is not None:
                reopened = (clock(), since)
            if since is None:
                since = int(time.time() - (clock() - silent_since)) - 1

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
