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
from dashboard.core.agents_store import MAX_TASKS_PER_AGENT, AgentKnowledge, TaskWord, reconcile_period
from dashboard.core.agents_usage import UsageFrame
from dashboard.core.domain import Task
from dashboard.core.model import ACTIVE_STATES, Snapshot
from dashboard.core.watch.base import WatchState, clock

log = logging.getLogger(__name__)

UsageSubscriber = Callable[[UsageFrame], Awaitable[None]]
ResendAsker = Callable[[str], Awaitable[None]]  # asks the agent on this socket for a fresh inventory
AWAIT_FOR = 3.0  # seconds a manager gets to learn what an agent said ended (a cut-off worker never tells it)
MAX_AWAITED = 1000  # tasks awaited per service, and services awaited
WORDS_MARGIN = 100  # task containers an agent may speak of beyond its node's tasks in the model


class AgentSide(WatchState):
    agents: AgentKnowledge
    snapshot: Snapshot
    _usage_subscribers: list[UsageSubscriber]
    _resend_askers: list[ResendAsker]
    _asking: set[asyncio.Task[None]]
    _awaiting: dict[str, dict[str, float]]  # service -> its tasks an agent said ended -> until when awaited

    def agent_said(self, node_id: str, conn: str, message: AgentMessage) -> None:
        """One message of the agent on ``node_id`` (socket ``conn``), already parsed. An agent of a
        node the model does not have is not heard (so agents are as many as nodes at most)."""
        if self._nodes and node_id not in self._nodes and node_id not in self.agents.agents:
            return
        # words of at most as many containers as the node has tasks, and a few the managers have not
        # listed yet: more are no node's truth
        room = self._tasks.count_on(node_id) + WORDS_MARGIN if self._nodes else MAX_TASKS_PER_AGENT
        services, changed = self.agents.said(node_id, conn, message, clock(), room=room)
        hinted = False
        for service_id in services & set(self._services):  # an id the model has none of is no hint
            self._dirty.service_tasks.add(service_id)
            self._settle(service_id)
            hinted = True
        if message["type"] == "event" and message["action"] == "die" and hinted:
            self._await_end(node_id, message["task_id"], message["service_id"])
        if changed:
            self._dirty.agents = True
        if hinted or changed:
            self._wake.set()
        for conn in self.agents.take_unheard().values():
            self._ask_resend(conn)

    def subscribe_resend(self, asker: ResendAsker) -> None:
        """``asker(socket)`` asks that socket's agent for a fresh inventory (messages.Resend):
        called for an agent heard of without its hello (this watcher's first word of it)."""
        self._resend_askers.append(asker)

    def _ask_resend(self, conn: str) -> None:
        for asker in self._resend_askers:
            task = asyncio.get_running_loop().create_task(_ask(asker, conn), name="agent-resend")
            self._asking.add(task)
            task.add_done_callback(self._asking.discard)

    def agent_gone(self, node_id: str, conn: str) -> None:
        if self.agents.gone(node_id, conn):
            self._dirty.agents = True
            self._wake.set()

    def agent_word(self, task: Task) -> TaskWord | None:
        """What the agent of the task's own node says of it (health, the last check's output)."""
        return self.agents.word_on(task)

    def _await_end(self, node_id: str, task_id: str, service_id: str) -> None:
        """Await the managers' word that a task ended, as its agent said (``die``: only a container's
        exit ends its task; a ``kill`` is any signal, an ``oom`` may be a child process's). Only a
        task the model has, active, on the agent's own node and of the service the agent names: any
        other (a task the managers have not told of yet, another node's) gets the one re-list of
        its hint, never a follow - one message must not cost dozens of listings."""
        task = self._tasks.items.get(task_id)
        if task is None or task.node_id != node_id or task.service_id != service_id:
            return
        if task.state not in ACTIVE_STATES:
            return
        tasks = self._awaiting.get(service_id)
        if tasks is None:
            if len(self._awaiting) >= MAX_AWAITED:
                return
            tasks = self._awaiting[service_id] = {}
        if task_id in tasks or len(tasks) < MAX_AWAITED:
            tasks[task_id] = clock() + AWAIT_FOR

    def _awaited(self, service_id: str) -> bool:
        """Does a task of this service still run for the managers after its agent said it ended?
        The re-list comes at once, often before the worker told its manager: then it is re-listed
        again shortly (refresher.AWAIT_INTERVAL) instead of being called settled."""
        tasks = self._awaiting.get(service_id)
        if tasks is None:
            return False
        now = clock()
        for task_id, until in list(tasks.items()):
            task = self._tasks.items.get(task_id)
            if now >= until or task is None or task.state not in ACTIVE_STATES:
                del tasks[task_id]
        if not tasks:
            del self._awaiting[service_id]
        return bool(tasks)

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


async def _ask(asker: ResendAsker, conn: str) -> None:
    try:
        await asker(conn)
    except Exception as e:  # the agent keeps what it has; its next reconnect says hello and all
        log.warning("an agent could not be asked for its inventory: %s", e)
