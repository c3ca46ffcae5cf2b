"""What the simulated manager stores: its objects and indexes, lookups as Docker resolves names, events,
and the JSON of every object cached until it changes."""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

from bench.simulator import docs
from bench.simulator.events import EventLog
from bench.simulator.model import (
    FINAL_STATES,
    JSON,
    TASK_HISTORY_LIMIT,
    ApiError,
    Blob,
    Ids,
    Node,
    Service,
    Task,
    copy_json,
    dumps,
    swarm_labels,
)
from bench.simulator.profiles import Profile

_Found = TypeVar("_Found")


def one(found: list[_Found], kind: str, ref: str) -> _Found:
    """Docker's lookup result: not found is a 404, an ambiguous prefix a 400 (daemon/cluster/helpers.go)."""
    if len(found) == 1:
        return found[0]
    if not found:
        raise ApiError(404, f"{kind} {ref} not found")
    raise ApiError(400, f"{kind} {ref} is ambiguous ({len(found)} matches found)")


class SwarmState:
    def __init__(self, *, seed: int, step_delay: float, event_buffer: int, profile: Profile) -> None:
        self.profile = profile
        self.step_delay = step_delay
        self.requests: Counter[str] = Counter()  # "GET /tasks" -> count
        self.events = EventLog(event_buffer)
        self._rng = random.Random(seed)
        self._ids = Ids(self._rng)
        self._index = 10
        self._last_ns = 0
        self._nodes: dict[str, Node] = {}
        self._services: dict[str, Service] = {}
        self._tasks: dict[str, Task] = {}
        self._blobs: dict[str, dict[str, Blob]] = {"secret": {}, "config": {}}
        self._sorted_task_ids: list[str] = []
        self._by_service: dict[str, set[str]] = {}
        self._by_node: dict[str, set[str]] = {}
        self._slots: dict[tuple[str, int | str], list[str]] = {}
        self._runnable: list[str] = []  # running tasks churn may pick; stale entries are dropped when met
        self._tasks_body: bytes | None = None
        self._cursor = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._born_ns = self._now()
        self._plugins = docs.plugins(legacy=profile.legacy)
        self._cluster_id = self._ids.swarm()
        self._daemon_id = self._ids.daemon() if profile.legacy else self._ids.uuid()
        self._tls_info = self._make_tls_info()

    # --- what benchmarks read --------------------------------------------------------------------

    @property
    def local_node_id(self) -> str:
        """The node the API is served from (node 1, the leader): the only one with container events."""
        return next(iter(self._nodes))

    @property
    def node_ids(self) -> list[str]:
        return list(self._nodes)

    @property
    def service_ids(self) -> list[str]:
        return list(self._services)

    def service_id(self, name: str) -> str:
        return self.find_service(name).id

    def task_ids(
        self, *, service_id: str = "", node_id: str = "", state: str = "", desired_state: str = ""
    ) -> list[str]:
        """Task IDs, optionally only those of a service, on a node, in a state and/or a desired state."""
        tasks: Iterable[Task] = self._tasks.values()
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
        return dict(json.loads(self.task_bytes(self.find_task(task_id))))

    def service(self, ref: str) -> JSON:
        """A service as GET /services/{id} shows it."""
        return dict(json.loads(self.service_bytes(self.find_service(ref), status=False)))

    # --- lookups as Docker resolves them: full ID, then name, then ID prefix -----------------------

    def find_node(self, ref: str) -> Node:
        if ref in self._nodes:
            return self._nodes[ref]
        named = [n for n in self._nodes.values() if n.hostname == ref]
        return one(named or [n for n in self._nodes.values() if n.id.startswith(ref)], "node", ref)

    def find_service(self, ref: str) -> Service:
        if ref in self._services:
            return self._services[ref]
        named = [s for s in self._services.values() if s.name == ref]
        return one(named or [s for s in self._services.values() if s.id.startswith(ref)], "service", ref)

    def find_task(self, ref: str) -> Task:
        if ref in self._tasks:
            return self._tasks[ref]
        return one([t for t in self._tasks.values() if t.id.startswith(ref)], "task", ref)

    def find_blob(self, kind: str, ref: str) -> Blob:
        blobs = self._blobs[kind]
        if ref in blobs:
            return blobs[ref]
        named = [b for b in blobs.values() if b.name == ref]
        return one(named or [b for b in blobs.values() if b.id.startswith(ref)], kind, ref)

    def find_container(self, ref: str) -> Task:
        """The task whose container on node 1 is ``ref`` (ID, unique ID prefix or name): only node 1's engine
        knows its containers, so a manager answers 404 for every container elsewhere."""
        name = ref.removeprefix("/")
        local = [t for t in self.tasks_on(self.local_node_id) if t.container_id]
        found = [t for t in local if t.container_id == ref or t.name == name]
        found = found or [t for t in local if len(ref) >= 1 and t.container_id.startswith(ref)]
        if len(found) != 1:
            raise ApiError(404, f"No such container: {ref}")
        return found[0]

    def blobs(self, kind: str) -> list[Blob]:
        return sorted(self._blobs[kind].values(), key=lambda b: b.id)

    def users_of(self, blob: Blob) -> list[Service]:
        """The services whose task template refers to a secret or config, by service ID as swarm's store."""
        key, id_key = ("Secrets", "SecretID") if blob.kind == "secret" else ("Configs", "ConfigID")
        return [
            s
            for s in sorted(self._services.values(), key=lambda s: s.id)
            if any(r.get(id_key) == blob.id for r in s.container_spec.get(key) or [])
        ]

    # --- bookkeeping ---------------------------------------------------------------------------

    def _now(self) -> int:
        """Wall-clock nanoseconds, strictly increasing: events keep their order when compared by time."""
        self._last_ns = max(self._last_ns + 1, time.time_ns())
        return self._last_ns

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    def _touch(self, task: Task) -> None:
        task.index, task.updated_ns, task.cache = self._next_index(), self._now(), None
        self._tasks_body = None

    def _touch_node(self, node: Node) -> None:
        node.index, node.updated_ns, node.cache = self._next_index(), self._now(), None

    def _touch_service(self, service: Service) -> None:
        service.index, service.updated_ns, service.cache = self._next_index(), self._now(), None

    def _change_spec(self, service: Service, edit: Callable[[JSON], None]) -> None:
        service.previous_spec = service.spec
        service.spec = copy_json(service.spec)
        edit(service.spec)
        self._touch_service(service)

    def _index_task(self, task: Task) -> None:
        self._tasks[task.id] = task
        bisect.insort(self._sorted_task_ids, task.id)
        self._by_service.setdefault(task.service_id, set()).add(task.id)
        if task.node_id:
            self._by_node[task.node_id].add(task.id)
        self._slots.setdefault(task.slot_key, []).append(task.id)
        self._tasks_body = None

    def _delete_task(self, task: Task) -> None:
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

    def tasks_of(self, service_id: str) -> list[Task]:
        return [self._tasks[i] for i in self._by_service.get(service_id, ())]

    def tasks_on(self, node_id: str) -> list[Task]:
        return [self._tasks[i] for i in self._by_node.get(node_id, ())]

    def task_candidates(self, filters: dict[str, list[str]]) -> Iterable[Task]:
        """Narrow by the indexed filters first, so a filtered list never walks every task."""
        ids: set[str] | None = None
        if "service" in filters:
            ids = set().union(*(self._by_service.get(self.find_service(s).id, set()) for s in filters["service"]))
        if "node" in filters:
            on_nodes = set().union(*(self._by_node[self.find_node(n).id] for n in filters["node"]))
            ids = on_nodes if ids is None else ids & on_nodes
        if ids is None:
            return self._tasks.values()
        return (self._tasks[i] for i in ids)

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

    def _emit(self, kind: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
        now = self._now()
        event: JSON = {"Type": kind, "Action": action}
        event["Actor"] = {"ID": actor_id, "Attributes": dict(sorted(attributes.items()))}
        event["scope"] = "local" if kind == "container" else "swarm"
        event["time"], event["timeNano"] = now // 1_000_000_000, now
        self.events.publish(event)

    def _container_event(self, task: Task, action: str, **extra: str) -> None:
        """Only the daemon that runs a container reports it: here, only node 1's."""
        if task.node_id != self.local_node_id or not task.container_id:
            return
        container_spec = task.spec["ContainerSpec"]
        attributes = {
            **swarm_labels(task, container_spec.get("Labels", {})),
            "image": str(container_spec["Image"]),
            "name": task.name,
            **extra,
        }
        self._emit("container", action, task.container_id, attributes)

    # --- JSON, cached per object -------------------------------------------------------------------

    def node_bytes(self, node: Node) -> bytes:
        if node.cache is None:
            node.cache = dumps(docs.node_doc(node, self._tls_info, self.profile.engine, self._plugins))
        return node.cache

    def service_bytes(self, service: Service, *, status: bool) -> bytes:
        if service.cache is None:
            service.cache = dumps(docs.service_doc(service))
        if not status:
            return service.cache
        return service.cache[:-1] + b',"ServiceStatus":' + dumps(self._service_status(service)) + b"}"

    def _service_status(self, service: Service) -> JSON:
        tasks = self.tasks_of(service.id)
        running = sum(1 for t in tasks if t.state == "running")
        desired = sum(1 for t in tasks if t.desired_state == "running") if service.is_global else service.replicas
        return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}

    def task_bytes(self, task: Task) -> bytes:
        if task.cache is None:
            task.cache = dumps(docs.task_doc(task))
        return task.cache

    def all_tasks_body(self) -> bytes:
        if self._tasks_body is None:
            parts = (self.task_bytes(self._tasks[i]) for i in self._sorted_task_ids)
            self._tasks_body = b"[" + b",".join(parts) + b"]\n"
        return self._tasks_body

    def _warm(self) -> None:
        for node in self._nodes.values():
            self.node_bytes(node)
        for service in self._services.values():
            self.service_bytes(service, status=False)
        self.all_tasks_body()

    def _make_tls_info(self) -> JSON:
        blob = base64.b64encode(self._rng.randbytes(360)).decode()
        pem = "\n".join(blob[i : i + 64] for i in range(0, len(blob), 64))
        return {
            "TrustRoot": f"-----BEGIN CERTIFICATE-----\n{pem}\n-----END CERTIFICATE-----\n",
            "CertIssuerSubject": "MBMxETAPBgNVBAMTCHN3YXJtLWNh",
            "CertIssuerPublicKey": base64.b64encode(self._rng.randbytes(91)).decode(),
        }
