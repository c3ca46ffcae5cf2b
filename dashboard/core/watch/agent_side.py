"""The watcher's side of the node agents: their words in, hints and the model's agent side out.

An event an agent reports re-lists its service's tasks at once, as a manager's own container event
does (the refresher's listing stays the truth); what only agents know (health, OOM kills, which
nodes have an agent) is folded into every published model (dashboard.core.agents_store), and their
resource use goes out every ``agent_stats_every`` seconds as a UsageFrame to ``subscribe_usage``'s
subscribers, never as a patch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from dashboard.agent.messages import AgentMessage
from dashboard.core.agents_store import AgentKnowledge, TaskWord, reconcile_period
from dashboard.core.agents_usage import UsageFrame
from dashboard.core.domain import Task
from dashboard.core.model import ACTIVE_STATES, Snapshot
from dashboard.core.watch.base import WatchState, clock

log = logging.getLogger(__name__)

UsageSubscriber = Callable[[UsageFrame], Awaitable[None]]
ENDING_ACTIONS = frozenset({"die", "oom", "kill"})
AWAIT_FOR = 3.0  # seconds a manager gets to learn what an agent said ended (a cut-off worker never tells it)
MAX_AWAITED = 1000


class AgentSide(WatchState):
    agents: AgentKnowledge
    snapshot: Snapshot
    _usage_subscribers: list[UsageSubscriber]
    _awaiting: dict[str, tuple[str, float]]  # task -> its service, until when a manager's word is awaited

    def agent_said(self, node_id: str, conn: str, message: AgentMessage) -> None:
        """One message of the agent on ``node_id`` (socket ``conn``), already parsed."""
        services, changed = self.agents.said(node_id, conn, message, clock())
        hinted = False
        for service_id in services & set(self._services):  # an id the model has none of is no hint
            self._dirty.service_tasks.add(service_id)
            self._settle(service_id)
            hinted = True
        if message["type"] == "event" and message["action"] in ENDING_ACTIONS and hinted:
            if len(self._awaiting) < MAX_AWAITED:
                self._awaiting[message["task_id"]] = (message["service_id"], clock() + AWAIT_FOR)
        if changed:
            self._dirty.agents = True
        if hinted or changed:
            self._wake.set()

    def agent_gone(self, node_id: str, conn: str) -> None:
        if self.agents.gone(node_id, conn):
            self._dirty.agents = True
            self._wake.set()

    def agent_word(self, task: Task) -> TaskWord | None:
        """What the agent of the task's own node says of it (health, the last check's output)."""
        return self.agents.word_on(task)

    def _awaited(self, service_id: str) -> bool:
        """Does a task of this service still run for the managers after its agent said it ended?
        The re-list comes at once, often before the worker told its manager: then it is re-listed
        again shortly (refresher.AWAIT_INTERVAL) instead of being called settled."""
        now = clock()
        waiting = False
        for task_id, (of, until) in list(self._awaiting.items()):
            task = self._tasks.items.get(task_id)
            if now >= until or (task is not None and task.state not in ACTIVE_STATES):
                del self._awaiting[task_id]
            elif of == service_id:
                waiting = True
        return waiting

    def subscribe_usage(self, subscriber: UsageSubscriber) -> None:
        self._usage_subscribers.append(subscriber)

    def _reconcile_period(self) -> float:
        s = self.settings
        return reconcile_period(s.reconcile, self._nodes.values(), self.agents.live(), s.relax_factor)

    async def _usage_loop(self) -> None:
        """Every ``agent_stats_every``: agents not heard of for their ttl expire, and the latest
        samples go out (nothing while no agent is live)."""
        every = self.settings.agent_stats_every
        while True:
            await asyncio.sleep(every)
            if self.agents.expire(clock()):
                self._dirty.agents = True
                self._wake.set()
            if not self._usage_subscribers or not (self.agents.agents or self.agents.outputs_changed):
                continue  # nothing to say (the last agent's goodbye still takes its outputs with it)
            nodes, tasks = self.agents.usage(self.snapshot.nodes, self.snapshot.tasks, clock())
            frame = UsageFrame(at=round(time.time(), 3), every=every, nodes=nodes, tasks=tasks)
            for subscriber in list(self._usage_subscribers):
                try:
                    await subscriber(frame)
                except Exception:
                    log.exception("a usage subscriber failed")
