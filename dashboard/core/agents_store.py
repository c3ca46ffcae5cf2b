"""What the node agents know that a manager's API does not, kept where the watcher runs.

An agent speaks for one node (the id it said hello with) and for the task containers its daemon
runs. What it says is kept per node, bounded, and folded into the published model only where the
model agrees: a task that exists, on that very node. So an agent can add health, an OOM kill and
resource use to its own node's tasks, and can never move, end or invent a task - that is Docker's
word, re-listed from a manager after every event an agent reports (``said`` returns the services to
re-list).

An agent is live from its hello until it goes (its socket closes) or nothing is heard of it for
``ttl`` seconds (the process that held its socket died: no goodbye ever comes). With every node
that should run one covered (ready, not drained), the periodic /tasks reconcile may relax
(``reconcile_period``). Pure: the caller gives the time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dashboard.agent.messages import AgentMessage
from dashboard.agent.output import whole_lines
from dashboard.core.domain import Node, Task
from dashboard.core.model import ACTIVE_STATES

MAX_AGENTS = 5000  # nodes with a live agent: a swarm has fewer
MAX_TASKS_PER_AGENT = 5000  # task containers remembered per agent, the oldest word dropped first
RELAX_FACTOR = 4.0  # the reconcile's period, multiplied, while every ready, undrained node has a live agent


@dataclass(slots=True)
class TaskWord:
    """What an agent last said of one task container on its node."""

    service_id: str
    health: str = ""
    output: str = ""
    oom_killed: bool = False
    said_at: float = 0.0


@dataclass(slots=True)
class Agent:
    conn: str  # which socket speaks for the node: a newer hello replaces an older socket's word
    hostname: str
    heard_at: float
    tasks: dict[str, TaskWord] = field(default_factory=dict)
    marked: set[str] = field(default_factory=set)  # tasks whose word is health or an OOM kill: what fold shows
    usage: dict[str, tuple[float, int, int]] = field(default_factory=dict)  # task -> cpu, memory, limit
    node_usage: tuple[float, float, int, int] | None = None  # cpu, cpus, memory, memory total
    usage_at: float = 0.0
    sample_at: float = -1.0  # the agent's own time of its latest sample (its parts share it)


def covered(node: Node) -> bool:
    """Is this node one an agent should run on? Ready, and not drained: Docker removes a drained
    node's tasks, the agents' global service's too."""
    return node.state == "ready" and node.availability != "drain"


def reconcile_period(base: float, nodes: Iterable[Node], live: Iterable[str], factor: float = RELAX_FACTOR) -> float:
    """The reconcile's period: relaxed while every node an agent should run on has a live one
    (agents' events then say what a re-list would find), ``base`` the moment one has none."""
    ready = {n.id for n in nodes if covered(n)}
    return base * factor if ready and ready <= set(live) else base


class AgentKnowledge:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.agents: dict[str, Agent] = {}
        self._folded: dict[str, tuple[str, bool]] = {}  # task -> (health, oom_killed) as last folded
        self._cache: dict[str, tuple[Task, str, bool, Task]] = {}  # task -> Docker's, the word, as shown
        # health outputs changed since the last drain: task -> (node, health, output), None: forget it;
        # kept only for a drainer (a leader passing them on through Redis), else they would pile up
        self.track_outputs = False
        self.outputs_changed: dict[str, tuple[str, str, str] | None] = {}
        # node -> the socket of an agent heard of without its hello (a new leader's first word of it,
        # or an agent back after its ttl): what it said of health and OOM kills before is not here,
        # and agents send an inventory only after hello - so it is asked for one (``take_unheard``)
        self.unheard: dict[str, str] = {}

    # --- what agents say ------------------------------------------------------------------------

    def said(
        self, node_id: str, conn: str, message: AgentMessage, now: float, *, room: int = MAX_TASKS_PER_AGENT
    ) -> tuple[set[str], bool]:
        """Take one (parsed) message: the services whose tasks to re-list, and whether the model's
        agent side may have changed (publish it). A word from a replaced socket is ignored. At most
        ``room`` task containers' words are kept for the node (the watcher: its tasks, and a margin)."""
        room = min(room, MAX_TASKS_PER_AGENT)
        agent = self.agents.get(node_id)
        if message["type"] == "hello":
            if agent is None and len(self.agents) >= MAX_AGENTS:
                return set(), False
            if agent is not None:
                self._forget_outputs(node_id, agent)
            self.agents[node_id] = Agent(conn=conn, hostname=message["hostname"], heard_at=now)
            return set(), True
        if agent is None:
            # a word without its hello: a new leader hears agents that said hello to its predecessor
            if len(self.agents) >= MAX_AGENTS:
                return set(), False
            agent = self.agents[node_id] = Agent(conn=conn, hostname="", heard_at=now)
            self.unheard[node_id] = conn
            fresh = True
        elif agent.conn != conn:
            return set(), False
        else:
            fresh = False
        agent.heard_at = now
        if message["type"] == "inventory":
            self.unheard.pop(node_id, None)
            self._forget_outputs(node_id, agent)
            agent.tasks = {
                c["task_id"]: TaskWord(c["service_id"], c["health"], whole_lines(c["output"]), c["oom_killed"], now)
                for c in message["tasks"][:room]
            }
            agent.marked = {t for t, word in agent.tasks.items() if word.health or word.oom_killed}
            for task_id, word in agent.tasks.items():
                self._output(node_id, task_id, word)
            return {c["service_id"] for c in message["tasks"]}, True
        if message["type"] == "event":
            task_id = message["task_id"]
            word = agent.tasks.get(task_id) or TaskWord(message["service_id"])
            word.said_at = now
            agent.tasks[task_id] = word
            self._bound(agent, room)
            action = message["action"]
            if action == "health_status":
                word.health, word.output = message["health"], whole_lines(message["output"])
                self._output(node_id, message["task_id"], word)
            elif action == "oom":
                word.oom_killed = True
            elif action == "destroy":  # the container is gone: its health with it, its OOM kill is history
                word.health, word.output = "", ""
                self._output(node_id, message["task_id"], word)
            if word.health or word.oom_killed:
                agent.marked.add(task_id)
            else:
                agent.marked.discard(task_id)
            return {message["service_id"]}, True
        # stats: not the model's (a low-rate channel of its own), only proof of life
        # a sample too large for one message comes in parts with the same ``at``: they add up
        rows = {u["task_id"]: (u["cpu"], u["memory"], u["memory_limit"]) for u in message["tasks"][:room]}
        if message["at"] == agent.sample_at and len(agent.usage) + len(rows) <= room:
            agent.usage.update(rows)
        else:
            agent.usage = rows
        agent.sample_at = message["at"]
        node = message["node"]
        agent.node_usage = (node["cpu"], node["cpus"], node["memory"], node["memory_total"])
        agent.usage_at = now
        return set(), fresh

    def take_unheard(self) -> dict[str, str]:
        """The agents to ask for an inventory (node -> socket), each once."""
        unheard, self.unheard = self.unheard, {}
        return unheard

    def gone(self, node_id: str, conn: str) -> bool:
        """The socket ``conn`` closed; True when it was the node's agent (it is no longer live)."""
        agent = self.agents.get(node_id)
        if agent is None or agent.conn != conn:
            return False
        self._forget_outputs(node_id, agent)
        del self.agents[node_id]
        return True

    def expire(self, now: float) -> bool:
        """Forget agents not heard of for ``ttl`` seconds; True when any went."""
        stale = [n for n, a in self.agents.items() if now - a.heard_at > self.ttl]
        for node_id in stale:
            self.gone(node_id, self.agents[node_id].conn)
        return bool(stale)

    def _bound(self, agent: Agent, room: int) -> None:
        excess = len(agent.tasks) - room
        if excess > 0:  # the oldest words go first
            for task_id in sorted(agent.tasks, key=lambda t: agent.tasks[t].said_at)[:excess]:
                del agent.tasks[task_id]
                agent.marked.discard(task_id)

    def _output(self, node_id: str, task_id: str, word: TaskWord) -> None:
        if self.track_outputs:
            self.outputs_changed[task_id] = (node_id, word.health, word.output) if word.health or word.output else None

    def _forget_outputs(self, node_id: str, agent: Agent) -> None:
        for task_id, word in agent.tasks.items():
            if self.track_outputs and (word.health or word.output):
                self.outputs_changed[task_id] = None

    def drain_outputs(self) -> dict[str, tuple[str, str, str] | None]:
        changed, self.outputs_changed = self.outputs_changed, {}
        return changed

    def restore_outputs(self, drained: Mapping[str, tuple[str, str, str] | None]) -> None:
        """Take back what a failed write drained, for the next drain: a change since is newer and stays."""
        if self.track_outputs:
            self.outputs_changed = {**drained, **self.outputs_changed}

    # --- what the model shows -------------------------------------------------------------------

    def live(self) -> set[str]:
        return set(self.agents)

    def word_on(self, task: Task) -> TaskWord | None:
        """What the agent of the task's own node said of it; None from any other node's agent."""
        agent = self.agents.get(task.node_id) if task.node_id else None
        return agent.tasks.get(task.id) if agent is not None else None

    def fold(
        self, nodes: Mapping[str, Node], tasks: Mapping[str, Task]
    ) -> tuple[Mapping[str, Node], Mapping[str, Task], set[str]]:
        """Docker's nodes and tasks with the agents' word on them, and the tasks whose folded word
        changed since the last fold (for a diff that compares only touched tasks)."""
        folded: dict[str, tuple[str, bool]] = {}
        for node_id, agent in self.agents.items():
            for task_id in agent.marked:
                word = agent.tasks[task_id]
                task = tasks.get(task_id)
                if task is not None and task.node_id == node_id:
                    # an oom event may be a child process's: the task was OOM-killed only if it ended
                    oom = word.oom_killed and task.state not in ACTIVE_STATES
                    if word.health or oom:
                        folded[task_id] = (word.health, oom)
        touched = {t for t in folded.keys() | self._folded.keys() if folded.get(t) != self._folded.get(t)}
        self._folded = folded
        if folded:
            new_tasks = dict(tasks)
            cache: dict[str, tuple[Task, str, bool, Task]] = {}
            for task_id, (health, oom) in folded.items():
                task = tasks[task_id]
                hit = self._cache.get(task_id)
                # a publish folds thousands of healthchecked tasks: each is rebuilt only when
                # Docker's task or the agent's word on it changed
                if hit is not None and hit[1] == health and hit[2] == oom and (hit[0] is task or hit[0] == task):
                    shown = hit[3]
                else:
                    shown = dataclasses.replace(task, health=health or task.health, oom_killed=oom)
                cache[task_id] = (task, health, oom, shown)
                new_tasks[task_id] = shown
            self._cache = cache
            tasks = new_tasks
        else:
            self._cache = {}
        if self.agents or any(n.agent for n in nodes.values()):
            nodes = {i: n if n.agent == (i in self.agents) else dataclasses.replace(n, agent=i in self.agents)
                     for i, n in nodes.items()}  # fmt: skip
        return nodes, tasks, touched

    def usage(
        self, nodes: Mapping[str, Node], tasks: Mapping[str, Task], now: float
    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        """The latest sample of each node and task (younger than ``ttl``), of nodes and tasks the
        model has, each from its own node's agent: node -> [cpu, cpus, memory, memory total],
        task -> [cpu, memory, memory limit] (cpu in cores)."""
        node_rows: dict[str, list[float]] = {}
        task_rows: dict[str, list[float]] = {}
        for node_id, agent in self.agents.items():
            if node_id not in nodes or now - agent.usage_at > self.ttl:
                continue
            if agent.node_usage is not None:
                cpu, cpus, memory, total = agent.node_usage
                node_rows[node_id] = [round(cpu, 3), round(cpus, 3), memory, total]
            for task_id, (cpu, memory, limit) in agent.usage.items():
                task = tasks.get(task_id)
                if task is not None and task.node_id == node_id:
                    task_rows[task_id] = [round(cpu, 3), memory, limit]
        return node_rows, task_rows
