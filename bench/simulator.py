"""A Docker Engine API 1.41 simulator of a large swarm, for scale benchmarks.

It serves on a unix socket the read side of the API a swarm dashboard uses (/_ping, /version,
/info, /nodes, /services, /tasks, /secrets, /configs, /events), in the JSON shapes Docker 20.10
sends (tests/integration/test_simulator_shapes.py holds them against a real daemon), and it
changes the swarm as Docker would: tasks fail and are replaced in their slot, services scale and
roll, nodes go down and drain, each with the events a manager's /events carries. Like a real
manager, it is "served from" node 1: container events exist only for tasks on node 1.

Left out on purpose: write endpoints (drive changes with the methods), containers, networks,
volumes, images, network events, restart delays and update parallelism (replacements start at
once, one state step every ``step_delay`` seconds).

    sim = Simulator(nodes=500, tasks=20000, managers=3, seed=1)
    await sim.start("/tmp/sim.sock")   # DOCKER_HOST=unix:///tmp/sim.sock
    sim.scale(service_id, 40)
    await sim.stop()

    python -m bench.simulator --socket /tmp/sim.sock --nodes 500 --tasks 20000 --churn 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import functools
import json
import os
import random
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

JSON = dict[str, Any]
_Found = TypeVar("_Found")

API_VERSION = "1.41"
ENGINE_VERSION = "20.10.24"
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

PLUGINS = [
    *({"Type": "Log", "Name": n} for n in ("awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file")),
    *({"Type": "Log", "Name": n} for n in ("local", "logentries", "splunk", "syslog")),
    *({"Type": "Network", "Name": n} for n in ("bridge", "host", "ipvlan", "macvlan", "null", "overlay")),
    {"Type": "Volume", "Name": "local"},
]
STACKS = ("shop", "billing", "search", "auth", "media", "ads", "chat", "mail", "maps", "pay", "feed", "ml", "cdn")
COMPONENTS = ("api", "web", "worker", "cache", "queue", "cron", "proxy", "indexer", "scheduler", "notifier", "render")
PUBLISHING_COMPONENTS = frozenset({"proxy", "web"})
REPLICA_SIZES = (1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 100, 200)
GLOBAL_SERVICES = (
    ("monitoring_node-exporter", "prom/node-exporter:v1.6.1"),
    ("logging_fluent-bit", "fluent/fluent-bit:2.1.10"),
    ("security_falco", "falcosecurity/falco:0.36.1"),
)


class ApiError(Exception):
    """An answer in Docker's error shape: ``{"message": ...}`` with Docker's status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def rfc3339(ns: int) -> str:
    """Go's RFC3339Nano, as Docker writes every timestamp: trailing zeros of the fraction dropped."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def dumps(doc: Any) -> bytes:
    """Compact, as Go's encoder writes it."""
    return json.dumps(doc, separators=(",", ":")).encode()


class _Ids:
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
        raw = base64.b32encode(self._rng.getrandbits(240).to_bytes(30, "big")).decode()
        return ":".join(raw[i : i + 4] for i in range(0, 48, 4))


@dataclass(slots=True, eq=False)
class _Node:
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
class _Service:
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
        return tuple(self.spec["EndpointSpec"].get("Ports", ()))


@dataclass(slots=True, eq=False)
class _Task:
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
    ports: tuple[JSON, ...] = ()
    service_name: str = ""
    cache: bytes | None = None

    @property
    def slot_key(self) -> tuple[str, int | str]:
        return (self.service_id, self.slot if self.slot is not None else self.node_id)

    @property
    def is_current(self) -> bool:
        return self.desired_state in CURRENT_DESIRED


@dataclass(frozen=True, slots=True)
class _Planned:
    name: str
    image: str
    stack: str
    replicas: int | None  # None: global
    publishes: bool


class _Listener:
    """One /events connection: a bounded queue; None ends the stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[int, JSON, bytes] | None] = asyncio.Queue(LISTENER_QUEUE + 1)
        self.dropped = False

    def offer(self, item: tuple[int, JSON, bytes] | None) -> None:
        if self.dropped:
            return
        if item is not None and self.queue.qsize() >= LISTENER_QUEUE:
            self.dropped = True
            item = None
        self.queue.put_nowait(item)


class _EventLog:
    def __init__(self, limit: int) -> None:
        self._buffer: deque[tuple[int, JSON, bytes]] = deque(maxlen=limit)
        self._listeners: set[_Listener] = set()

    def publish(self, event: JSON) -> None:
        item = (int(event["timeNano"]), event, dumps(event) + b"\n")
        self._buffer.append(item)
        for listener in self._listeners:
            listener.offer(item)

    def subscribe(self) -> tuple[_Listener, list[tuple[int, JSON, bytes]]]:
        """Register and copy the buffer in one step, so replay and live stream neither overlap nor gap."""
        listener = _Listener()
        self._listeners.add(listener)
        return listener, list(self._buffer)

    def unsubscribe(self, listener: _Listener) -> None:
        self._listeners.discard(listener)

    def close_all(self) -> None:
        for listener in self._listeners:
            listener.offer(None)


class Simulator:
    """A swarm of ``nodes`` nodes running about ``tasks`` tasks, served as Docker's Engine API.

    ``churn`` failures per second (each replaced in its slot) start with ``start()``;
    ``step_delay`` is the time between two task states (0: every change completes at once).
    """

    def __init__(
        self,
        *,
        nodes: int = 500,
        tasks: int = 20_000,
        managers: int = 3,
        seed: int = 1,
        churn: float = 0.0,
        step_delay: float = 0.05,
        global_services: int | None = None,
        event_buffer: int = EVENT_BUFFER,
    ) -> None:
        if nodes < 1 or not 1 <= managers <= nodes or tasks < 0 or churn < 0 or step_delay < 0:
            raise ValueError("need nodes >= 1, 1 <= managers <= nodes, tasks >= 0, churn >= 0, step_delay >= 0")
        self.churn = churn
        self.step_delay = step_delay
        self.requests: Counter[str] = Counter()  # "GET /tasks" -> count
        self.events = _EventLog(event_buffer)
        self._rng = random.Random(seed)
        self._ids = _Ids(self._rng)
        self._index = 10
        self._last_ns = 0
        self._nodes: dict[str, _Node] = {}
        self._services: dict[str, _Service] = {}
        self._tasks: dict[str, _Task] = {}
        self._sorted_task_ids: list[str] = []
        self._by_service: dict[str, set[str]] = {}
        self._by_node: dict[str, set[str]] = {}
        self._slots: dict[tuple[str, int | str], list[str]] = {}
        self._runnable: list[str] = []  # running tasks churn may pick; stale entries are dropped when met
        self._tasks_body: bytes | None = None
        self._cursor = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._churn_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._socket_path = ""
        self._born_ns = self._now()
        self._cluster_id = self._ids.swarm()
        self._daemon_id = self._ids.daemon()
        self._tls_info = self._make_tls_info()
        self._build(nodes, managers, tasks, global_services)

    # --- what benchmarks read --------------------------------------------------------------------

    @property
    def local_node_id(self) -> str:
        """The node the API is served from (node 1, the leader): the only one with container events."""
        return next(iter(self._nodes))

    @property
    def socket_path(self) -> str:
        """Where it serves ("" when not started): DOCKER_HOST=unix://<socket_path>."""
        return self._socket_path

    @property
    def node_ids(self) -> list[str]:
        return list(self._nodes)

    @property
    def service_ids(self) -> list[str]:
        return list(self._services)

    def service_id(self, name: str) -> str:
        return self._find_service(name).id

    def task_ids(
        self, *, service_id: str = "", node_id: str = "", state: str = "", desired_state: str = ""
    ) -> list[str]:
        """Task IDs, optionally only those of a service, on a node, in a state and/or a desired state."""
        tasks: Iterable[_Task] = self._tasks.values()
        if service_id:
            tasks = (self._tasks[i] for i in self._by_service.get(service_id, ()))
        return [
            t.id
            for t in tasks
            if (not node_id or t.node_id == node_id)
            and (not state or t.state == state)
            and (not desired_state or t.desired_state == desired_state)
        ]

    def task(self, task_id: str) -> JSON:
        """A task as GET /tasks/{id} shows it."""
        return dict(json.loads(self._task_bytes(self._find_task(task_id))))

    # --- building the swarm -------------------------------------------------------------------

    def _make_tls_info(self) -> JSON:
        blob = base64.b64encode(self._rng.randbytes(360)).decode()
        pem = "\n".join(blob[i : i + 64] for i in range(0, len(blob), 64))
        return {
            "TrustRoot": f"-----BEGIN CERTIFICATE-----\n{pem}\n-----END CERTIFICATE-----\n",
            "CertIssuerSubject": "MBMxETAPBgNVBAMTCHN3YXJtLWNh",
            "CertIssuerPublicKey": base64.b64encode(self._rng.randbytes(91)).decode(),
        }

    def _build(self, nodes: int, managers: int, tasks: int, global_services: int | None) -> None:
        for n in range(1, nodes + 1):
            self._add_node(n, manager=n <= managers)
        globals_ = min(3, tasks // (nodes * 10)) if global_services is None else global_services
        for planned in _plan_services(self._rng, nodes, tasks, globals_):
            self._add_service(planned, quiet=True)

    def _add_node(self, n: int, *, manager: bool) -> None:
        cpus = self._rng.choice((2, 4, 8, 16))
        created = self._born_ns - 86_400_000_000_000 + n * 1_000_000
        node = _Node(
            id=self._ids.swarm(),
            index=self._next_index(),
            hostname=f"sim-node-{n:03d}",
            role="manager" if manager else "worker",
            addr=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
            nano_cpus=cpus * 1_000_000_000,
            memory_bytes=cpus * 4 * 1024**3,
            labels={"zone": "abc"[n % 3]},
            created_ns=created,
            updated_ns=created + 100_000_000,
            leader=n == 1,
        )
        self._nodes[node.id] = node
        self._by_node[node.id] = set()

    def _add_service(self, planned: _Planned, *, quiet: bool = False) -> _Service:
        """``quiet``: part of the initial swarm, created some time ago, running, no events."""
        now = self._now()
        if quiet:
            now = self._born_ns - self._rng.randrange(3_600, 30 * 86_400) * 1_000_000_000
        spec = _service_spec(self._rng, planned)
        service = _Service(
            id=self._ids.swarm(),
            index=self._next_index(),
            spec=spec,
            created_ns=now,
            updated_ns=now,
            task_spec=_task_spec(spec),
        )
        self._services[service.id] = service
        self._by_service[service.id] = set()
        if not quiet:
            self._emit("service", "create", service.id, {"name": service.name})
        if service.is_global:
            for node in self._nodes.values():
                if node.usable:
                    self._create_task(service, None, node.id, launched=quiet)
        else:
            for slot in range(1, service.replicas + 1):
                self._create_task(service, slot, "", launched=quiet)
        return service

    # --- changes benchmarks drive ---------------------------------------------------------------

    def create_service(
        self,
        name: str,
        *,
        replicas: int | None = 1,
        image: str = "registry.example.com/bench/app:1.0.0",
        publishes: bool = False,
    ) -> str:
        """Like `docker service create`; ``replicas=None`` makes a global service. Returns its ID."""
        stack = name.split("_", 1)[0] if "_" in name else ""
        return self._add_service(_Planned(name, image, stack, replicas, publishes)).id

    def remove_service(self, service_id: str) -> None:
        """Like `docker service rm`: the service goes at once, its tasks once they have shut down."""
        service = self._find_service(service_id)
        del self._services[service.id]
        self._emit("service", "remove", service.id, {"name": service.name})
        for task in self._tasks_of(service.id):
            self._shut_down(task, desired="remove")

    def scale(self, service_id: str, replicas: int) -> None:
        """Like `docker service scale`: new slots start, the highest slots are removed."""
        service = self._find_service(service_id)
        if service.is_global or replicas < 0:
            raise ValueError(f"cannot scale {service.name} to {replicas}")
        old = service.replicas
        self._change_spec(service, lambda spec: spec["Mode"]["Replicated"].update(Replicas=replicas))
        attributes = {"name": service.name, "replicas.new": str(replicas), "replicas.old": str(old)}
        self._emit("service", "update", service.id, attributes)
        current = sorted((t for t in self._tasks_of(service.id) if t.is_current), key=lambda t: t.slot or 0)
        for task in current[replicas:]:
            self._shut_down(task, desired="remove")
        taken = {t.slot for t in current[:replicas]}
        free = (slot for slot in range(1, replicas + len(taken) + 1) if slot not in taken)
        for _ in range(replicas - len(taken)):
            self._create_task(service, next(free), "")

    def update_service(
        self,
        service_id: str,
        *,
        image: str | None = None,
        env: list[str] | None = None,
        force: bool = False,
    ) -> None:
        """Like `docker service update` of the task template: every task is replaced in its slot."""
        service = self._find_service(service_id)

        def edit(spec: JSON) -> None:
            container = spec["TaskTemplate"]["ContainerSpec"]
            if image is not None:
                container["Image"] = image
            if env is not None:
                container["Env"] = list(env)
            if force:
                spec["TaskTemplate"]["ForceUpdate"] += 1
            # what `docker service update --update-parallelism 0` writes: every slot at once, as here
            spec["UpdateConfig"] = UPDATE_ALL_AT_ONCE
            spec["EndpointSpec"] = spec.pop("EndpointSpec")  # keep Docker's key order

        self._change_spec(service, edit)
        service.task_spec = _task_spec(service.spec)
        now = self._now()
        service.update_status = {"State": "updating", "StartedAt": rfc3339(now), "Message": "update in progress"}
        self._emit("service", "update", service.id, {"name": service.name})
        self._emit("service", "update", service.id, {"name": service.name, "updatestate.new": "updating"})
        for task in [t for t in self._tasks_of(service.id) if t.is_current]:
            self._shut_down(task)
            self._create_task(service, task.slot, task.node_id if service.is_global else "", prefer=task.node_id)
        self._complete_update_if_done(service)

    def fail_task(self, task_id: str, *, exit_code: int = 1) -> str:
        """The task's container exits with ``exit_code``; returns the ID of its replacement."""
        task = self._find_task(task_id)
        if task.state != "running" or task.desired_state != "running":
            raise ValueError(f"task {task.id} is {task.state} (desired {task.desired_state}), not running")
        task.state, task.err = "failed", f"task: non-zero exit ({exit_code})"
        task.pid, task.exit_code, task.status_ns = 0, exit_code, self._now()
        task.desired_state = "shutdown"
        self._touch(task)
        self._container_event(task, "die", exitCode=str(exit_code))
        service = self._services[task.service_id]
        node = task.node_id if service.is_global else ""
        return self._create_task(service, task.slot, node, prefer=task.node_id).id

    def set_node_state(self, node_id: str, state: str) -> None:
        """Status.State of a node: "down" reschedules its replicated tasks and leaves them running in the
        API with DesiredState shutdown, as Docker does; back to "ready", they are reported shut down."""
        node = self._find_node(node_id)
        if state not in NODE_STATES:
            raise ValueError(f"node state must be one of {sorted(NODE_STATES)}")
        old = node.state
        if old == state:
            return
        node.state, node.message = state, "heartbeat failure" if state == "down" else ""
        self._touch_node(node)
        self._emit("node", "update", node.id, {"name": node.hostname, "state.new": state, "state.old": old})
        if state == "down":
            self._evacuate(node, stop_containers=False)
        elif state == "ready":
            self._settle_returned_node(node)

    def set_node_availability(self, node_id: str, availability: str) -> None:
        """Spec.Availability of a node: "drain" moves its tasks away, "active" lets tasks come back."""
        node = self._find_node(node_id)
        if availability not in AVAILABILITIES:
            raise ValueError(f"availability must be one of {sorted(AVAILABILITIES)}")
        old = node.availability
        if old == availability:
            return
        node.availability = availability
        self._touch_node(node)
        attributes = {"availability.new": availability, "availability.old": old, "name": node.hostname}
        self._emit("node", "update", node.id, attributes)
        if availability == "drain":
            self._evacuate(node, stop_containers=True)
        elif node.usable:
            self._fill_node(node)

    def set_churn(self, rate: float) -> None:
        """Failures per second from now on (0 stops them)."""
        if rate < 0:
            raise ValueError("churn must be >= 0")
        self.churn = rate
        if self._loop is not None:
            self._restart_churn()

    # --- the task life cycle ---------------------------------------------------------------------

    def _create_task(
        self, service: _Service, slot: int | None, node_id: str, *, prefer: str = "", launched: bool = False
    ) -> _Task:
        now = self._now()
        task = _Task(
            id=self._ids.swarm(),
            index=self._next_index(),
            service_id=service.id,
            slot=slot,
            spec=service.task_spec,
            created_ns=now,
            updated_ns=now,
            status_ns=now,
            node_id=node_id,
            preferred_node=prefer or node_id,
            ports=service.ports,
            service_name=service.name,
        )
        self._index_task(task)
        if launched:
            self._run_at_once(task, service)
        else:
            self._later(lambda: self._advance(task.id))
        self._trim_slot(task.slot_key)
        return task

    def _run_at_once(self, task: _Task, service: _Service) -> None:
        """Initial tasks: already running when the simulator starts, with no events for their past."""
        task.created_ns = service.created_ns + self._rng.randrange(100_000, 50_000_000)
        task.status_ns = task.created_ns + self._rng.randrange(500_000_000, 3_000_000_000)
        task.updated_ns = task.status_ns + self._rng.randrange(100_000, 90_000_000)
        if not self._place(task):
            task.state, task.message = "pending", MESSAGES["pending"]
            return
        task.state, task.message = "running", MESSAGES["running"]
        task.container_id, task.pid = self._ids.container(), self._rng.randrange(1000, 4_000_000)
        self._runnable.append(task.id)

    def _advance(self, task_id: str) -> None:
        task = self._tasks.get(task_id)
        if task is None or not task.is_current or task.state not in LAUNCH_STATES[:-1]:
            return
        following = LAUNCH_STATES[LAUNCH_STATES.index(task.state) + 1]
        if following == "assigned" and not self._place(task):
            return  # stays pending until a node becomes usable (see _fill_node)
        self._set_state(task, following)
        if following != "running":
            self._later(lambda: self._advance(task_id))

    def _place(self, task: _Task) -> bool:
        node = self._nodes.get(task.node_id or task.preferred_node)
        if node is None or not node.usable:
            if task.slot is None:
                return False  # a global task belongs to its node
            node = self._next_usable_node()
        if node is None:
            return False
        self._move(task, node.id)
        return True

    def _next_usable_node(self) -> _Node | None:
        nodes = list(self._nodes.values())
        for step in range(len(nodes)):
            node = nodes[(self._cursor + step) % len(nodes)]
            if node.usable:
                self._cursor = (self._cursor + step + 1) % len(nodes)
                return node
        return None

    def _move(self, task: _Task, node_id: str) -> None:
        if task.node_id:
            self._by_node[task.node_id].discard(task.id)
        task.node_id = node_id
        self._by_node[node_id].add(task.id)

    def _set_state(self, task: _Task, state: str) -> None:
        task.state, task.message, task.status_ns = state, MESSAGES.get(state, task.message), self._now()
        if state == "starting":
            task.container_id = self._ids.container()
            self._container_event(task, "create")
        elif state == "running":
            task.pid = self._rng.randrange(1000, 4_000_000)
            self._container_event(task, "start")
            self._runnable.append(task.id)
        self._touch(task)
        if state == "running":
            self._complete_update_if_done(self._services.get(task.service_id))

    def _shut_down(self, task: _Task, *, desired: str = "shutdown") -> None:
        """Ask a task to stop; its node reports it shut down one step later (never, while it is down)."""
        task.desired_state = desired
        self._touch(task)
        self._later(lambda: self._stopped(task.id))

    def _stopped(self, task_id: str) -> None:
        task = self._tasks.get(task_id)
        if task is None or task.is_current:
            return
        node = self._nodes.get(task.node_id)
        if node is not None and node.state != "ready":
            return  # nobody reports for a node that is down; it says so when it is back
        if task.state not in FINAL_STATES:
            if task.container_id and task.state == "running":
                self._container_event(task, "kill", signal="15")
                self._container_event(task, "die", exitCode="143")
                self._container_event(task, "stop")
                task.pid, task.exit_code = 0, 143
            task.state, task.message, task.status_ns = "shutdown", MESSAGES["shutdown"], self._now()
            self._touch(task)
        if task.desired_state == "remove":
            self._delete_task(task)
            self._drop_finished_slot(task.slot_key)

    def _drop_finished_slot(self, key: tuple[str, int | str]) -> None:
        """A slot that no longer runs anything loses its history too, as swarm's task reaper does."""
        tasks = [self._tasks[i] for i in self._slots.get(key, ())]
        if not any(t.is_current for t in tasks):
            for task in tasks:
                if task.state in FINAL_STATES:
                    self._delete_task(task)

    def _evacuate(self, node: _Node, *, stop_containers: bool) -> None:
        for task in [t for t in self._tasks_on(node.id) if t.is_current]:
            if stop_containers:
                self._shut_down(task)
            else:
                task.desired_state = "shutdown"
                self._touch(task)
            service = self._services.get(task.service_id)
            if service is not None and not service.is_global:
                self._create_task(service, task.slot, "")

    def _settle_returned_node(self, node: _Node) -> None:
        for task in self._tasks_on(node.id):
            if not task.is_current:
                self._later(functools.partial(self._stopped, task.id))
        if node.usable:
            self._fill_node(node)

    def _fill_node(self, node: _Node) -> None:
        """Global services run a task on every usable node; pending tasks may fit now."""
        for service in self._services.values():
            if service.is_global and not any(
                t.is_current for t in self._tasks_on(node.id) if t.service_id == service.id
            ):
                self._create_task(service, None, node.id)
        for task in list(self._tasks.values()):
            if task.state == "pending" and task.is_current:
                self._later(functools.partial(self._advance, task.id))

    def _complete_update_if_done(self, service: _Service | None) -> None:
        if service is None or not service.update_status or service.update_status["State"] != "updating":
            return
        current = [t for t in self._tasks_of(service.id) if t.is_current]
        if any(t.state != "running" or t.spec is not service.task_spec for t in current):
            return
        service.update_status = {
            **service.update_status,
            "State": "completed",
            "CompletedAt": rfc3339(self._now()),
            "Message": "update completed",
        }
        self._touch_service(service)
        attributes = {"name": service.name, "updatestate.new": "completed", "updatestate.old": "updating"}
        self._emit("service", "update", service.id, attributes)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _now(self) -> int:
        """Wall-clock nanoseconds, strictly increasing: events keep their order when compared by time."""
        self._last_ns = max(self._last_ns + 1, time.time_ns())
        return self._last_ns

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    def _touch(self, task: _Task) -> None:
        task.index, task.updated_ns, task.cache = self._next_index(), self._now(), None
        self._tasks_body = None

    def _touch_node(self, node: _Node) -> None:
        node.index, node.updated_ns, node.cache = self._next_index(), self._now(), None

    def _touch_service(self, service: _Service) -> None:
        service.index, service.updated_ns, service.cache = self._next_index(), self._now(), None

    def _change_spec(self, service: _Service, edit: Callable[[JSON], None]) -> None:
        service.previous_spec = service.spec
        service.spec = json.loads(json.dumps(service.spec))
        edit(service.spec)
        self._touch_service(service)

    def _index_task(self, task: _Task) -> None:
        self._tasks[task.id] = task
        bisect.insort(self._sorted_task_ids, task.id)
        self._by_service.setdefault(task.service_id, set()).add(task.id)
        if task.node_id:
            self._by_node[task.node_id].add(task.id)
        self._slots.setdefault(task.slot_key, []).append(task.id)
        self._tasks_body = None

    def _delete_task(self, task: _Task) -> None:
        if task.container_id:
            self._container_event(task, "destroy")
        del self._tasks[task.id]
        del self._sorted_task_ids[bisect.bisect_left(self._sorted_task_ids, task.id)]
        self._by_service.get(task.service_id, set()).discard(task.id)
        if not self._by_service.get(task.service_id) and task.service_id not in self._services:
            self._by_service.pop(task.service_id, None)
        if task.node_id:
            self._by_node[task.node_id].discard(task.id)
        slot = self._slots.get(task.slot_key, [])
        if task.id in slot:
            slot.remove(task.id)
        if not slot:
            self._slots.pop(task.slot_key, None)
        self._tasks_body = None

    def _trim_slot(self, key: tuple[str, int | str]) -> None:
        """Swarm keeps TASK_HISTORY_LIMIT tasks per slot; the oldest finished ones go first."""
        slot = self._slots.get(key, [])
        for task_id in list(slot):
            if len(slot) <= TASK_HISTORY_LIMIT:
                return
            task = self._tasks[task_id]
            if not task.is_current and task.state in FINAL_STATES:
                self._delete_task(task)

    def _tasks_of(self, service_id: str) -> list[_Task]:
        return [self._tasks[i] for i in self._by_service.get(service_id, ())]

    def _tasks_on(self, node_id: str) -> list[_Task]:
        return [self._tasks[i] for i in self._by_node.get(node_id, ())]

    def _later(self, callback: Callable[[], None]) -> None:
        if self.step_delay <= 0 or self._loop is None:
            callback()
            return
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            callback()

        handle = self._loop.call_later(self.step_delay, fire)
        self._timers.add(handle)

    # --- events --------------------------------------------------------------------------------

    def _emit(self, kind: str, action: str, actor_id: str, attributes: dict[str, str], **legacy: str) -> None:
        now = self._now()
        event: JSON = {**legacy, "Type": kind, "Action": action}
        event["Actor"] = {"ID": actor_id, "Attributes": dict(sorted(attributes.items()))}
        event["scope"] = "local" if kind == "container" else "swarm"
        event["time"], event["timeNano"] = now // 1_000_000_000, now
        self.events.publish(event)

    def _container_event(self, task: _Task, action: str, **extra: str) -> None:
        """Only the daemon that runs a container reports it: here, only node 1's."""
        if task.node_id != self.local_node_id or not task.container_id:
            return
        service_name = task.service_name
        container_spec = task.spec["ContainerSpec"]
        image = str(container_spec["Image"])
        name = f"{service_name}.{task.slot if task.slot is not None else task.node_id}.{task.id}"
        attributes = {
            **container_spec.get("Labels", {}),
            "com.docker.swarm.node.id": task.node_id,
            "com.docker.swarm.service.id": task.service_id,
            "com.docker.swarm.service.name": service_name,
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": task.id,
            "com.docker.swarm.task.name": name,
            "image": image,
            "name": name,
            **extra,
        }
        legacy = {"status": action, "id": task.container_id, "from": image}
        self._emit("container", action, task.container_id, attributes, **legacy)

    # --- churn ---------------------------------------------------------------------------------

    def _restart_churn(self) -> None:
        if self._churn_task is not None:
            self._churn_task.cancel()
            self._churn_task = None
        if self.churn > 0:
            self._churn_task = asyncio.get_running_loop().create_task(self._churn_loop(self.churn), name="sim-churn")

    async def _churn_loop(self, rate: float) -> None:
        """Failures at ``rate`` per second on average, at most 1000 per tick so a stall cannot snowball."""
        loop = asyncio.get_running_loop()
        started, done = loop.time(), 0
        while True:
            due = int((loop.time() - started) * rate)
            for _ in range(min(due - done, 1000)):
                task = self._pick_running()
                if task is not None:
                    self.fail_task(task.id, exit_code=1)
            done = due
            await asyncio.sleep(max(1 / rate, 0.01))

    def _pick_running(self) -> _Task | None:
        for _ in range(32):
            if not self._runnable:
                return None
            position = self._rng.randrange(len(self._runnable))
            task = self._tasks.get(self._runnable[position])
            if task is None or task.state != "running" or task.desired_state != "running":
                self._runnable[position] = self._runnable[-1]
                self._runnable.pop()
                continue
            if self._nodes[task.node_id].state == "ready":
                return task
        return None

    # --- lookups as Docker resolves them -----------------------------------------------------------

    def _find_node(self, ref: str) -> _Node:
        if ref in self._nodes:
            return self._nodes[ref]
        named = [n for n in self._nodes.values() if n.hostname == ref]
        return _one(named or [n for n in self._nodes.values() if n.id.startswith(ref)], "node", ref)

    def _find_service(self, ref: str) -> _Service:
        if ref in self._services:
            return self._services[ref]
        named = [s for s in self._services.values() if s.name == ref]
        return _one(named or [s for s in self._services.values() if s.id.startswith(ref)], "service", ref)

    def _find_task(self, ref: str) -> _Task:
        if ref in self._tasks:
            return self._tasks[ref]
        return _one([t for t in self._tasks.values() if t.id.startswith(ref)], "task", ref)

    # --- JSON, cached per object -------------------------------------------------------------------

    def _node_bytes(self, node: _Node) -> bytes:
        if node.cache is None:
            node.cache = dumps(_node_doc(node, self._tls_info))
        return node.cache

    def _service_bytes(self, service: _Service, *, status: bool) -> bytes:
        if service.cache is None:
            service.cache = dumps(_service_doc(service))
        if not status:
            return service.cache
        return service.cache[:-1] + b',"ServiceStatus":' + dumps(self._service_status(service)) + b"}"

    def _service_status(self, service: _Service) -> JSON:
        tasks = self._tasks_of(service.id)
        running = sum(1 for t in tasks if t.state == "running")
        desired = sum(1 for t in tasks if t.desired_state == "running") if service.is_global else service.replicas
        return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}

    def _task_bytes(self, task: _Task) -> bytes:
        if task.cache is None:
            task.cache = dumps(_task_doc(task))
        return task.cache

    def _all_tasks_body(self) -> bytes:
        if self._tasks_body is None:
            parts = (self._task_bytes(self._tasks[i]) for i in self._sorted_task_ids)
            self._tasks_body = b"[" + b",".join(parts) + b"]\n"
        return self._tasks_body

    def _warm(self) -> None:
        for node in self._nodes.values():
            self._node_bytes(node)
        for service in self._services.values():
            self._service_bytes(service, status=False)
        self._all_tasks_body()

    # --- serving -------------------------------------------------------------------------------------

    async def start(self, socket_path: str) -> None:
        """Serve on ``socket_path`` (a stale socket file there is replaced) and start the churn."""
        self._loop = asyncio.get_running_loop()
        self._warm()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(_docker_headers)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.UnixSite(self._runner, socket_path).start()
        self._socket_path = socket_path
        self._restart_churn()

    async def stop(self) -> None:
        """Stop the churn and pending state steps, end every /events stream, close the socket."""
        if self._churn_task is not None:
            self._churn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._churn_task
            self._churn_task = None
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self.events.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._socket_path)
            self._socket_path = ""
        self._loop = None

    def _routes(self, app: web.Application) -> None:
        handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "/_ping": self._ping,
            "/version": self._version,
            "/info": self._info,
            "/nodes": self._nodes_list,
            "/nodes/{id}": self._node_inspect,
            "/services": self._services_list,
            "/services/{id}": self._service_inspect,
            "/tasks": self._tasks_list,
            "/tasks/{id}": self._task_inspect,
            "/secrets": self._empty_list,
            "/configs": self._empty_list,
            "/events": self._events,
        }
        for prefix in ("", "/v{version:[0-9]+\\.[0-9]+}"):
            for path, handler in handlers.items():
                app.router.add_get(prefix + path, handler)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        self.requests[f"{request.method} {path.removeprefix('/v{version}')}"] += 1
        try:
            _check_version(request.match_info.get("version"))
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            return _error(404, "page not found")
        except ApiError as e:
            return _error(e.status, e.message)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"Cache-Control": "no-cache, no-store, must-revalidate"})

    async def _version(self, request: web.Request) -> web.Response:
        return _json(_version_doc())

    async def _info(self, request: web.Request) -> web.Response:
        return _json(self._info_doc())

    async def _nodes_list(self, request: web.Request) -> web.Response:
        filters = _filters(request, {"id", "name", "role", "membership", "label", "node.label"})
        nodes = [n for n in sorted(self._nodes.values(), key=lambda n: n.id) if _node_matches(n, filters)]
        return _json_bytes(b"[" + b",".join(self._node_bytes(n) for n in nodes) + b"]\n")

    async def _node_inspect(self, request: web.Request) -> web.Response:
        return _json_bytes(self._node_bytes(self._find_node(request.match_info["id"])) + b"\n")

    async def _services_list(self, request: web.Request) -> web.Response:
        filters = _filters(request, {"id", "name", "label", "mode"})
        status = request.query.get("status", "") in ("1", "true", "True")
        services = sorted(self._services.values(), key=lambda s: s.id)
        parts = [self._service_bytes(s, status=status) for s in services if _service_matches(s, filters)]
        return _json_bytes(b"[" + b",".join(parts) + b"]\n")

    async def _service_inspect(self, request: web.Request) -> web.Response:
        service = self._find_service(request.match_info["id"])
        return _json_bytes(self._service_bytes(service, status=False) + b"\n")

    async def _tasks_list(self, request: web.Request) -> web.Response:
        accepted = {"id", "name", "label", "service", "node", "desired-state", "runtime", "_up-to-date"}
        filters = _filters(request, accepted)
        if not filters:
            return _json_bytes(self._all_tasks_body())
        for state in filters.get("desired-state", []):
            if state not in TASK_STATES:
                raise ApiError(500, f"Invalid desired-state filter: '{state}'")
        tasks = [t for t in self._task_candidates(filters) if self._task_matches(t, filters)]
        tasks.sort(key=lambda t: t.id)
        return _json_bytes(b"[" + b",".join(self._task_bytes(t) for t in tasks) + b"]\n")

    def _task_candidates(self, filters: dict[str, list[str]]) -> Iterable[_Task]:
        """Narrow by the indexed filters first, so a filtered list never walks every task."""
        ids: set[str] | None = None
        if "service" in filters:
            ids = set().union(*(self._by_service.get(self._find_service(s).id, set()) for s in filters["service"]))
        if "node" in filters:
            on_nodes = set().union(*(self._by_node[self._find_node(n).id] for n in filters["node"]))
            ids = on_nodes if ids is None else ids & on_nodes
        if ids is None:
            return self._tasks.values()
        return (self._tasks[i] for i in ids)

    def _task_matches(self, task: _Task, filters: dict[str, list[str]]) -> bool:
        if "id" in filters and not any(task.id.startswith(v) for v in filters["id"]):
            return False
        if "desired-state" in filters and task.desired_state not in filters["desired-state"]:
            return False
        if "name" in filters:
            name = f"{task.service_name}.{task.slot if task.slot is not None else task.node_id}"
            if not any(name.startswith(v) for v in filters["name"]):
                return False
        return "label" not in filters  # tasks carry no labels of their own here

    async def _task_inspect(self, request: web.Request) -> web.Response:
        return _json_bytes(self._task_bytes(self._find_task(request.match_info["id"])) + b"\n")

    async def _empty_list(self, request: web.Request) -> web.Response:
        _filters(request, {"id", "name", "names", "label"})
        return _json_bytes(b"[]\n")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        since = _timestamp(request.query.get("since"))
        until = _timestamp(request.query.get("until"))
        match = _event_filter(_filters(request, EVENT_FILTERS))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        listener, backlog = self.events.subscribe()
        try:
            if since is not None or until is not None:  # either one asks for the past, as in dockerd
                for when, event, line in backlog:
                    if when >= (since or 0) and (until is None or when <= until) and match(event):
                        await response.write(line)
            async for event, line in _live(listener, until):
                if match(event):
                    await response.write(line)
        except ConnectionError:
            pass  # the client went away
        finally:
            self.events.unsubscribe(listener)
        return response

    def _info_doc(self) -> JSON:
        local = self._nodes[self.local_node_id]
        containers = [t for t in self._tasks_on(local.id) if t.container_id]
        running = sum(1 for t in containers if t.state == "running")
        managers = [n for n in self._nodes.values() if n.role == "manager"]
        return {
            "ID": self._daemon_id,
            "Containers": len(containers),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": len(containers) - running,
            "Images": len({t.spec["ContainerSpec"]["Image"] for t in containers}),
            "Driver": "overlay2",
            "NCPU": local.nano_cpus // 1_000_000_000,
            "MemTotal": local.memory_bytes,
            "KernelVersion": "6.1.0-13-amd64",
            "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "OSVersion": "12",
            "OSType": "linux",
            "Architecture": "x86_64",
            "Name": local.hostname,
            "ServerVersion": ENGINE_VERSION,
            "SystemTime": rfc3339(self._now()),
            "Swarm": {
                "NodeID": local.id,
                "NodeAddr": local.addr,
                "LocalNodeState": "active",
                "ControlAvailable": True,
                "Error": "",
                "RemoteManagers": [{"NodeID": n.id, "Addr": f"{n.addr}:2377"} for n in managers],
                "Nodes": len(self._nodes),
                "Managers": len(managers),
                "Cluster": self._cluster_doc(),
            },
            "Warnings": None,
        }

    def _cluster_doc(self) -> JSON:
        return {
            "ID": self._cluster_id,
            "Version": {"Index": 10},
            "CreatedAt": rfc3339(self._born_ns - 86_400_000_000_000),
            "UpdatedAt": rfc3339(self._born_ns - 86_300_000_000_000),
            "Spec": {
                "Name": "default",
                "Labels": {},
                "Orchestration": {"TaskHistoryRetentionLimit": TASK_HISTORY_LIMIT},
                "Raft": {
                    "SnapshotInterval": 10000,
                    "KeepOldSnapshots": 0,
                    "LogEntriesForSlowFollowers": 500,
                    "ElectionTick": 10,
                    "HeartbeatTick": 1,
                },
                "Dispatcher": {"HeartbeatPeriod": 5_000_000_000},
                "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000},
                "TaskDefaults": {},
                "EncryptionConfig": {"AutoLockManagers": False},
            },
            "TLSInfo": self._tls_info,
            "RootRotationInProgress": False,
            "DefaultAddrPool": ["10.0.0.0/8"],
            "SubnetSize": 24,
            "DataPathPort": 4789,
        }


# --- documents -----------------------------------------------------------------------------------


def _node_doc(node: _Node, tls_info: JSON) -> JSON:
    status: JSON = {"State": node.state}
    if node.message:
        status["Message"] = node.message
    status["Addr"] = node.addr
    doc: JSON = {
        "ID": node.id,
        "Version": {"Index": node.index},
        "CreatedAt": rfc3339(node.created_ns),
        "UpdatedAt": rfc3339(node.updated_ns),
        "Spec": {"Labels": node.labels, "Role": node.role, "Availability": node.availability},
        "Description": {
            "Hostname": node.hostname,
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": node.nano_cpus, "MemoryBytes": node.memory_bytes},
            "Engine": {"EngineVersion": ENGINE_VERSION, "Plugins": PLUGINS},
            "TLSInfo": tls_info,
        },
        "Status": status,
    }
    if node.role == "manager":
        manager: JSON = {"Leader": True} if node.leader else {}
        manager["Reachability"] = "reachable" if node.state == "ready" else "unreachable"
        manager["Addr"] = f"{node.addr}:2377"
        doc["ManagerStatus"] = manager
    return doc


def _service_doc(service: _Service) -> JSON:
    doc: JSON = {
        "ID": service.id,
        "Version": {"Index": service.index},
        "CreatedAt": rfc3339(service.created_ns),
        "UpdatedAt": rfc3339(service.updated_ns),
        "Spec": service.spec,
    }
    if service.previous_spec is not None:
        doc["PreviousSpec"] = service.previous_spec
    endpoint_spec = service.spec["EndpointSpec"]
    ports = service.ports
    doc["Endpoint"] = {"Spec": endpoint_spec, "Ports": ports} if ports else {"Spec": {}}
    if service.update_status is not None:
        doc["UpdateStatus"] = service.update_status
    return doc


def _task_doc(task: _Task) -> JSON:
    doc: JSON = {
        "ID": task.id,
        "Version": {"Index": task.index},
        "CreatedAt": rfc3339(task.created_ns),
        "UpdatedAt": rfc3339(task.updated_ns),
        "Labels": {},
        "Spec": task.spec,
        "ServiceID": task.service_id,
    }
    if task.slot is not None:
        doc["Slot"] = task.slot
    if task.node_id:
        doc["NodeID"] = task.node_id
    status: JSON = {"Timestamp": rfc3339(task.status_ns), "State": task.state, "Message": task.message}
    if task.err:
        status["Err"] = task.err
    if task.container_id:
        status["ContainerStatus"] = {"ContainerID": task.container_id, "PID": task.pid, "ExitCode": task.exit_code}
    status["PortStatus"] = {"Ports": task.ports} if task.ports and task.state == "running" else {}
    doc["Status"] = status
    doc["DesiredState"] = task.desired_state
    return doc


def _version_doc() -> JSON:
    details = {
        "ApiVersion": API_VERSION,
        "Arch": "amd64",
        "BuildTime": "2023-04-04T08:49:31.000000000+00:00",
        "Experimental": "false",
        "GitCommit": "5d6db84",
        "GoVersion": "go1.19.8",
        "KernelVersion": "6.1.0-13-amd64",
        "MinAPIVersion": "1.12",
        "Os": "linux",
    }
    return {
        "Platform": {"Name": ""},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.12",
        "GitCommit": "5d6db84",
        "GoVersion": "go1.19.8",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0-13-amd64",
        "BuildTime": "2023-04-04T08:49:31.000000000+00:00",
    }


def _service_spec(rng: random.Random, planned: _Planned) -> JSON:
    container: JSON = {"Image": planned.image}
    if planned.stack:
        container["Labels"] = {"com.docker.stack.namespace": planned.stack}
    container["Args"] = ["serve"]
    if planned.stack:
        container["Env"] = ["LOG_LEVEL=info", f"DB_PASSWORD={rng.getrandbits(64):016x}"]
    container |= {"Init": False, "StopGracePeriod": 10_000_000_000, "DNSConfig": {}, "Isolation": "default"}
    labels = {}
    if planned.stack:
        labels = {"com.docker.stack.image": planned.image.split("@", 1)[0], "com.docker.stack.namespace": planned.stack}
    mode: JSON = {"Global": {}} if planned.replicas is None else {"Replicated": {"Replicas": planned.replicas}}
    endpoint: JSON = {"Mode": "vip"}
    if planned.publishes:
        port = 8000 + rng.randrange(1000)
        endpoint = {
            "Mode": "dnsrr",
            "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port, "PublishMode": "host"}],
        }
    return {
        "Name": planned.name,
        "Labels": labels,
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": {"Limits": {}, "Reservations": {}},
            "Placement": {},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": mode,
        "EndpointSpec": endpoint,
    }


def _task_spec(spec: JSON) -> JSON:
    return {k: v for k, v in spec["TaskTemplate"].items() if k != "Runtime"}


def _plan_services(rng: random.Random, nodes: int, tasks: int, globals_: int) -> Iterator[_Planned]:
    """Replicated services of mixed sizes (most in stacks, a few host-published), plus global ones."""
    for name, image in GLOBAL_SERVICES[:globals_]:
        yield _Planned(name, image, name.split("_", 1)[0], None, publishes=False)
    remaining = max(0, tasks - globals_ * nodes)
    used: Counter[str] = Counter()
    while remaining > 0:
        replicas = min(rng.choice(REPLICA_SIZES), remaining, max(1, tasks // 8))  # small swarms get several
        remaining -= replicas
        stack, component = rng.choice(STACKS), rng.choice(COMPONENTS)
        if rng.random() < 0.1:
            stack = ""
        base = f"{stack}_{component}" if stack else component
        used[base] += 1
        name = base if used[base] == 1 else f"{base}-{used[base]}"
        digest = f"{rng.getrandbits(256):064x}"
        version = f"{rng.randrange(1, 4)}.{rng.randrange(20)}.{rng.randrange(10)}"
        image = f"registry.example.com/{stack or 'tools'}/{component}:{version}@sha256:{digest}"
        publishes = component in PUBLISHING_COMPONENTS and replicas <= nodes
        yield _Planned(name, image, stack, replicas, publishes)


# --- HTTP helpers ------------------------------------------------------------------------------------

EVENT_FILTERS = frozenset(
    {"config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret"}
    | {"service", "type", "volume"}
)
NAMED_EVENT_FILTERS = EVENT_FILTERS - {"event", "label", "scope", "type"}


async def _docker_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"Docker/{ENGINE_VERSION} (linux)"


def _json(doc: Any) -> web.Response:
    return _json_bytes(dumps(doc) + b"\n")


def _json_bytes(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json_bytes(dumps({"message": message}) + b"\n", status)


def _check_version(version: str | None) -> None:
    if version is None:
        return
    asked = tuple(int(p) for p in version.split("."))
    if asked > (1, 41):
        raise ApiError(400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
    if asked < (1, 12):
        raise ApiError(400, f"client version {version} is too old. Minimum supported API version is 1.12")


def _one(found: list[_Found], kind: str, ref: str) -> _Found:
    if len(found) == 1:
        return found[0]
    if not found:
        raise ApiError(404, f"{kind} {ref} not found")
    raise ApiError(404, f"{kind} {ref} is ambiguous ({len(found)} matches found)")


def _filters(request: web.Request, accepted: Iterable[str]) -> dict[str, list[str]]:
    """Docker's ``filters`` parameter: ``{"key": ["a", "b"]}`` or the older ``{"key": {"a": true}}``."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as e:
        raise ApiError(500, f"invalid filters: {e}") from None
    if not isinstance(parsed, dict):
        raise ApiError(500, "invalid filters: expected an object")
    filters: dict[str, list[str]] = {}
    for key, values in parsed.items():
        if key not in accepted:
            raise ApiError(400, f"Invalid filter '{key}'")
        if not isinstance(values, list | dict):
            raise ApiError(500, f"invalid filters: {key} must be a list or a map")
        filters[key] = [str(v) for v in values]
    return {k: v for k, v in filters.items() if v}


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, _, value = item.partition("=")
        if key not in labels or ("=" in item and labels[key] != value):
            return False
    return True


def _node_matches(node: _Node, filters: dict[str, list[str]]) -> bool:
    """``id`` and ``name`` match by prefix; ``label`` means engine labels, which these nodes have none of."""
    return (
        any(node.id.startswith(v) for v in filters.get("id", [""]))
        and any(node.hostname.startswith(v) for v in filters.get("name", [""]))
        and node.role in filters.get("role", [node.role])
        and "accepted" in filters.get("membership", ["accepted"])
        and _labels_match({}, filters.get("label", []))
        and _labels_match(node.labels, filters.get("node.label", []))
    )


def _service_matches(service: _Service, filters: dict[str, list[str]]) -> bool:
    mode = "global" if service.is_global else "replicated"
    return (
        any(service.id.startswith(v) for v in filters.get("id", [""]))
        and any(service.name.startswith(v) for v in filters.get("name", [""]))
        and _labels_match(service.spec["Labels"], filters.get("label", []))
        and mode in filters.get("mode", [mode])
    )


def _event_filter(filters: dict[str, list[str]]) -> Callable[[JSON], bool]:
    """Docker's rules: every key narrows; a name-like key matches the actor's ID or name by prefix."""

    def match(event: JSON) -> bool:
        actor = event["Actor"]
        for key, values in filters.items():
            if key == "type" and event["Type"] not in values:
                return False
            if key == "event" and event["Action"] not in values:
                return False
            if key == "scope" and event["scope"] not in values:
                return False
            if key == "label" and not _labels_match(actor["Attributes"], values):
                return False
            if key in NAMED_EVENT_FILTERS:
                names = (actor["ID"], actor["Attributes"].get("name", ""))
                if event["Type"] != key or not any(n.startswith(v) for n in names for v in values):
                    return False
        return True

    return match


def _timestamp(raw: str | None) -> int | None:
    """``since``/``until`` as Docker takes them here: seconds, optionally ``.nanoseconds``."""
    if raw is None or raw == "":
        return None
    seconds, _, fraction = raw.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise ApiError(500, f'strconv.ParseInt: parsing "{raw}": invalid syntax')
    return int(seconds) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))


async def _live(listener: _Listener, until: int | None) -> AsyncIterator[tuple[JSON, bytes]]:
    """Events as they come, until ``until`` (nanoseconds, wall clock) or the simulator stops."""
    while True:
        timeout = None if until is None else (until - time.time_ns()) / 1e9
        if timeout is not None and timeout < 0:
            return
        try:
            async with asyncio.timeout(timeout):
                item = await listener.queue.get()
        except TimeoutError:
            return
        if item is None:
            return
        when, event, line = item
        if until is not None and when > until:
            return
        yield event, line


# --- command line ----------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description="A Docker Engine API simulator.")
    parser.add_argument("--socket", required=True, help="unix socket to serve on")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000, help="about this many tasks in total")
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--churn", type=float, default=0.0, help="task failures per second")
    parser.add_argument("--step-delay", type=float, default=0.05, help="seconds between two task states")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: on a signal)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        nodes=args.nodes,
        tasks=args.tasks,
        managers=args.managers,
        seed=args.seed,
        churn=args.churn,
        step_delay=args.step_delay,
    )
    await sim.start(args.socket)
    print(
        f"serving {len(sim.node_ids)} nodes, {len(sim.service_ids)} services, {len(sim.task_ids())} tasks "
        f"on unix://{args.socket} (churn {args.churn:g}/s)",
        file=sys.stderr,
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.seconds):
                await stopping.wait()
    finally:
        await sim.stop()
    for endpoint, count in sorted(sim.requests.items()):
        print(f"{count:8d}  {endpoint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
