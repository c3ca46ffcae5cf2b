"""What a node agent and the dashboard say to each other on /ws/agent: one JSON object per text frame.

The agent dials out (the dashboard never connects to nodes) and speaks first: ``hello``, then an
``inventory`` of the swarm task containers its daemon runs now (listed *after* subscribing to the
daemon's events, so that nothing between the two is missed), then ``event`` as they happen and
``stats`` every ``stats_every`` seconds. The dashboard answers ``hello`` with ``welcome``; later it
may send ``resend`` (a new leader, or one that forgot the agent after its ttl, knows nothing of what
it said of health and OOM kills): the agent answers with a fresh ``inventory``. An agent of before
``resend`` ignores it, as it ignores anything else the dashboard sends (no new protocol number: the
dashboard sends it only to agents it already took). The dashboard closes the socket with
AGENT_CLOSE_* codes when it refuses the agent.

An agent's word is a hint: an event makes the dashboard re-list that task's service at once (truth
still comes from a manager's API); health, OOM kills and resource use are kept only for tasks that
exist, on the node the agent said it runs on. Pure: no Django, no I/O.
"""

from __future__ import annotations

from typing import Literal, TypedDict

AGENT_PATH = "/ws/agent"
PROTOCOL = 1
MAX_MESSAGE_BYTES = 256 * 1024  # a stats message for ~1,000 containers; anything larger is refused
MAX_OUTPUT_CHARS = 2000  # a health check's output, its tail (Docker keeps 4 KiB)

AGENT_CLOSE_TOKEN = 4401  # no token, or not the dashboard's
AGENT_CLOSE_PROTOCOL = 4400  # a malformed message, one of another protocol, a hello for a node the swarm lacks
AGENT_CLOSE_REPLACED = 4409  # another agent said hello for the same node
AGENT_CLOSE_BUSY = 4429  # more messages than the dashboard takes (MESSAGES_BURST, then MESSAGES_PER_SECOND)

# what the dashboard takes of one agent: a burst, then a rate; an agent paces itself well below
# (dashboard.agent.link), and sends a fresh inventory instead of events it is too far behind on
MESSAGES_BURST = 1000
MESSAGES_PER_SECOND = 100.0

EventAction = Literal["start", "die", "oom", "kill", "health_status", "destroy"]
Health = Literal["healthy", "unhealthy", "starting", ""]


class Hello(TypedDict):
    """Agent -> dashboard, first: who it is."""

    type: Literal["hello"]
    protocol: int  # PROTOCOL
    node_id: str  # the daemon's swarm node id (GET /info: Swarm.NodeID)
    hostname: str
    engine: str  # the daemon's version
    agent: str  # the agent's own version


class Welcome(TypedDict):
    """Dashboard -> agent, the answer to hello."""

    type: Literal["welcome"]
    stats_every: float  # seconds between two stats messages


class Resend(TypedDict):
    """Dashboard -> agent, at any time after the welcome: send a fresh inventory."""

    type: Literal["resend"]


class TaskContainer(TypedDict):
    """A swarm task's container on the agent's node, as its daemon has it now."""

    task_id: str  # label com.docker.swarm.task.id
    service_id: str  # label com.docker.swarm.service.id
    container_id: str
    running: bool
    health: Health  # "" without a healthcheck
    # the last health check's output: its last whole lines (MAX_OUTPUT_CHARS), after "…\n" when
    # cut (dashboard.agent.output); "" without one
    output: str
    oom_killed: bool  # State.OOMKilled
    exit_code: int | None  # None while running


class Inventory(TypedDict):
    """Agent -> dashboard, after hello and after every reconnect to its daemon."""

    type: Literal["inventory"]
    tasks: list[TaskContainer]


class Event(TypedDict):
    """Agent -> dashboard: one of its daemon's container events, for a swarm task's container."""

    type: Literal["event"]
    action: EventAction
    task_id: str
    service_id: str
    container_id: str
    time_nano: int  # the daemon's timeNano
    exit_code: int | None  # "die": the container's exit code
    health: Health  # "health_status": the new status, else ""
    output: str  # "health_status": the last check's output (from inspecting the container), else ""


class TaskUsage(TypedDict):
    task_id: str
    cpu: float  # cores in use, averaged since the previous sample (1.0 = one whole core)
    memory: int  # bytes in use, without the page cache (as `docker stats` counts)
    memory_limit: int  # bytes; 0 when the container has no limit of its own


class NodeUsage(TypedDict):
    cpus: float  # cores the node has
    cpu: float  # cores in use by the task containers
    memory: int  # bytes in use by the task containers
    memory_total: int  # bytes the node has


class Stats(TypedDict):
    """Agent -> dashboard, every ``stats_every`` seconds: one sample per running task container."""

    type: Literal["stats"]
    at: float  # unix time of the sample
    node: NodeUsage
    tasks: list[TaskUsage]


AgentMessage = Hello | Inventory | Event | Stats
