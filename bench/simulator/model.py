"""The simulated swarm's objects, its identifiers and the constants Docker's swarm behaves by."""

from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

TASK_HISTORY_LIMIT = 5  # swarm's default TaskHistoryRetentionLimit: tasks kept per slot
EVENT_BUFFER = 256  # dockerd replays at most this many past events to `since`
LISTENER_QUEUE = 10_000  # a listener this far behind is dropped, as dockerd drops slow ones

# the path a task walks to running; Docker also passes accepted and ready, too fast to matter here
LAUNCH_STATES = ("new", "pending", "assigned", "preparing", "starting", "running")
FINAL_STATES = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})
TASK_STATES = frozenset(LAUNCH_STATES) | FINAL_STATES | {"accepted", "ready"}
CURRENT_DESIRED = frozenset({"running", "ready"})
MESSAGES = {
    "new": "created",
    "pending": "pending task scheduling",
    "assigned": "scheduler assigned task to node",
    "accepted": "accepted",
    "preparing": "preparing",
    "ready": "prepared",
    "starting": "starting",
    "running": "started",
    "shutdown": "shutdown",
}
UPDATE_ALL_AT_ONCE = {
    "Parallelism": 0,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}
NODE_STATES = frozenset({"ready", "down", "unknown", "disconnected"})
AVAILABILITIES = frozenset({"active", "pause", "drain"})
HEALTHCHECK = {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000}
KERNEL = "6.1.0-13-amd64"


class ApiError(Exception):
    """An answer in Docker's error shape: ``{"message": ...}`` with Docker's status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def rpc_error(code: str, message: str) -> str:
    """How a swarmkit (gRPC) error reads once dockerd passes it on."""
    return f"rpc error: code = {code} desc = {message}"


def rfc3339(ns: int) -> str:
    """Go's RFC3339Nano, as Docker writes every timestamp: trailing zeros of the fraction dropped."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def rfc3339_fixed(ns: int) -> str:
    """The log timestamp format: nine digits of fraction, always."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def dumps(doc: Any, *, sort_keys: bool = False) -> bytes:
    """Compact, as Go's encoder writes it (a Go map's keys come out sorted)."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=sort_keys).encode()


def copy_json(doc: Any) -> Any:
    return json.loads(json.dumps(doc))


class Ids:
    """Identifiers shaped like swarm's (25 chars of base36) and the engine's (64 hex chars)."""

    ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def swarm(self) -> str:
        n = self._rng.getrandbits(128)
        chars = []
        for _ in range(25):
            n, digit = divmod(n, 36)
            chars.append(self.ALPHABET[digit])
        return "".join(reversed(chars))

    def container(self) -> str:
        return f"{self._rng.getrandbits(256):064x}"

    def daemon(self) -> str:
        """The key fingerprint a 20.10 daemon calls its ID."""
        raw = base64.b32encode(self._rng.getrandbits(240).to_bytes(30, "big")).decode()
        return ":".join(raw[i : i + 4] for i in range(0, 48, 4))

    def uuid(self) -> str:
        """The engine-id of Docker 23 and later: a random UUID."""
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


@dataclass(slots=True, eq=False)
class Node:
    id: str
    index: int
    hostname: str
    role: str
    addr: str
    nano_cpus: int
    memory_bytes: int
    labels: dict[str, str]
    created_ns: int
    updated_ns: int
    leader: bool = False
    availability: str = "active"
    state: str = "ready"
    message: str = ""
    cache: bytes | None = None

    @property
    def usable(self) -> bool:
        return self.state == "ready" and self.availability == "active"


@dataclass(slots=True, eq=False)
class Service:
    id: str
    index: int
    spec: JSON
    created_ns: int
    updated_ns: int
    task_spec: JSON  # TaskTemplate as tasks carry it (without Runtime); shared by the tasks made from it
    previous_spec: JSON | None = None
    update_status: JSON | None = None
    cache: bytes | None = None

    @property
    def name(self) -> str:
        return str(self.spec["Name"])

    @property
    def is_global(self) -> bool:
        return "Global" in self.spec["Mode"]

    @property
    def replicas(self) -> int:
        return int(self.spec["Mode"].get("Replicated", {}).get("Replicas", 0))

    @property
    def ports(self) -> tuple[JSON, ...]:
        return tuple(self.spec.get("EndpointSpec", {}).get("Ports", ()))

    @property
    def container_spec(self) -> JSON:
        return dict(self.spec["TaskTemplate"]["ContainerSpec"])


@dataclass(slots=True, eq=False)
class Task:
    id: str
    index: int
    service_id: str
    slot: int | None  # None for global services: their tasks are keyed by node
    spec: JSON
    created_ns: int
    updated_ns: int
    status_ns: int
    node_id: str = ""
    preferred_node: str = ""
    state: str = "new"
    desired_state: str = "running"
    message: str = "created"
    err: str = ""
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0
    started_ns: int = 0  # when its container started (0: never)
    health: str = ""  # "" follows the healthcheck; set_health pins "healthy"/"unhealthy"
    health_output: str = ""
    ports: tuple[JSON, ...] = ()
    service_name: str = ""
    cache: bytes | None = None

    @property
    def slot_key(self) -> tuple[str, int | str]:
        return (self.service_id, self.slot if self.slot is not None else self.node_id)

    @property
    def is_current(self) -> bool:
        return self.desired_state in CURRENT_DESIRED

    @property
    def name(self) -> str:
        """The container's name: <service>.<slot or node>.<task>."""
        return f"{self.service_name}.{self.slot if self.slot is not None else self.node_id}.{self.id}"


@dataclass(slots=True, eq=False)
class Blob:
    """A secret or a config: swarm keeps them alike; only a config's data is ever shown."""

    kind: str  # "secret" | "config"
    id: str
    index: int
    name: str
    labels: dict[str, str]
    data: bytes
    created_ns: int
    updated_ns: int = field(default=0)


@dataclass(frozen=True, slots=True)
class Planned:
    name: str
    image: str
    stack: str
    replicas: int | None  # None: global
    publishes: bool
    healthcheck: bool = False
    constraints: tuple[str, ...] = ()


def swarm_labels(task: Task, labels: JSON) -> JSON:
    """A task container's labels, as swarm sets them: the spec's, then swarm's own about the task."""
    return {
        **labels,
        "com.docker.swarm.node.id": task.node_id,
        "com.docker.swarm.service.id": task.service_id,
        "com.docker.swarm.service.name": task.service_name,
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": task.id,
        "com.docker.swarm.task.name": task.name,
    }
