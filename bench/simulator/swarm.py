"""The swarm's public side: how it is built, and every change a benchmark, a test or a client's write makes."""

from __future__ import annotations

import asyncio
import re

from bench.simulator.docs import plan_services, service_spec, task_spec
from bench.simulator.lifecycle import Lifecycle, fits
from bench.simulator.model import (
    AVAILABILITIES,
    JSON,
    NODE_STATES,
    UPDATE_ALL_AT_ONCE,
    ApiError,
    Blob,
    Node,
    Planned,
    Service,
    copy_json,
    rpc_error,
)
from bench.simulator.profiles import Profile

# swarmkit's manager/controlapi/common.go
VALID_BLOB_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
MAX_BLOB_SIZE = {"secret": 500 * 1024, "config": 1000 * 1024}


class Swarm(Lifecycle):
    def __init__(
        self,
        *,
        nodes: int,
        tasks: int,
        managers: int,
        seed: int,
        churn: float,
        step_delay: float,
        global_services: int | None,
        event_buffer: int,
        profile: Profile,
    ) -> None:
        if nodes < 1 or not 1 <= managers <= nodes or tasks < 0 or churn < 0 or step_delay < 0:
            raise ValueError("need nodes >= 1, 1 <= managers <= nodes, tasks >= 0, churn >= 0, step_delay >= 0")
        super().__init__(seed=seed, step_delay=step_delay, event_buffer=event_buffer, profile=profile)
        self.churn = churn
        self._churn_task: asyncio.Task[None] | None = None
        for n in range(1, nodes + 1):
            self._add_node(n, manager=n <= managers)
        globals_ = min(3, tasks // (nodes * 10)) if global_services is None else global_services
        for planned in plan_services(self._rng, nodes, tasks, globals_):
            self._add_service(planned, quiet=True)

    def _add_node(self, n: int, *, manager: bool) -> None:
        cpus = self._rng.choice((2, 4, 8, 16))
        created = self._born_ns - 86_400_000_000_000 + n * 1_000_000
        node = Node(
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

    def _add_service(
        self, planned: Planned, *, quiet: bool = False, references: dict[str, list[JSON]] | None = None
    ) -> Service:
        """``quiet``: part of the initial swarm, created some time ago, running, no events."""
        now = self._now()
        if quiet:
            now = self._born_ns - self._rng.randrange(3_600, 30 * 86_400) * 1_000_000_000
        spec = service_spec(self._rng, planned, references=references)
        service = Service(
            id=self._ids.swarm(),
            index=self._next_index(),
            spec=spec,
            created_ns=now,
            updated_ns=now,
            task_spec=task_spec(spec),
        )
        self._services[service.id] = service
        self._by_service[service.id] = set()
        if not quiet:
            self._emit("service", "create", service.id, {"name": service.name})
        if service.is_global:
            constraints = list(service.task_spec.get("Placement", {}).get("Constraints") or [])
            for node in self._nodes.values():
                if node.usable and fits(node, constraints):
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
        healthcheck: bool = False,
        secrets: list[str] | None = None,
        configs: list[str] | None = None,
        constraints: list[str] | None = None,
    ) -> str:
        """Like `docker service create`; ``replicas=None`` makes a global service; ``secrets`` and
        ``configs`` (names or IDs) are mounted under their own names; ``constraints`` as --constraint
        (a task no node fits stays pending). Returns its ID."""
        stack = name.split("_", 1)[0] if "_" in name else ""
        refs = {
            "Secrets": [self._reference(self.find_blob("secret", ref)) for ref in secrets or []],
            "Configs": [self._reference(self.find_blob("config", ref)) for ref in configs or []],
        }
        planned = Planned(name, image, stack, replicas, publishes, healthcheck, tuple(constraints or ()))
        return self._add_service(planned, references=refs).id

    def remove_service(self, service_id: str) -> None:
        """Like `docker service rm`: the service goes at once, its tasks once they have shut down."""
        service = self.find_service(service_id)
        del self._services[service.id]
        self._emit("service", "remove", service.id, {"name": service.name})
        for task in self.tasks_of(service.id):
            self._shut_down(task, desired="remove")

    def scale(self, service_id: str, replicas: int) -> None:
        """Like `docker service scale`: new slots start, the highest slots are removed."""
        service = self.find_service(service_id)
        if service.is_global or replicas < 0:
            raise ValueError(f"cannot scale {service.name} to {replicas}")
        old = service.replicas
        self._change_spec(service, lambda spec: spec["Mode"]["Replicated"].update(Replicas=replicas))
        attributes = {"name": service.name, "replicas.new": str(replicas), "replicas.old": str(old)}
        self._emit("service", "update", service.id, attributes)
        self._scale_tasks(service, replicas)

    def update_service(
        self,
        service_id: str,
        *,
        image: str | None = None,
        env: list[str] | None = None,
        force: bool = False,
    ) -> None:
        """Like `docker service update --update-parallelism 0` of the task template: every task is
        replaced in its slot at once."""
        service = self.find_service(service_id)
        old_image = service.container_spec["Image"]

        def edit(spec: JSON) -> None:
            container = spec["TaskTemplate"]["ContainerSpec"]
            if image is not None:
                container["Image"] = image
            if env is not None:
                container["Env"] = list(env)
            if force:
                spec["TaskTemplate"]["ForceUpdate"] += 1
            spec["UpdateConfig"] = UPDATE_ALL_AT_ONCE
            spec["EndpointSpec"] = spec.pop("EndpointSpec")  # keep Docker's key order

        self._change_spec(service, edit)
        service.update_status = None
        self._emit("service", "update", service.id, self._update_attributes(service, old_image, service.replicas))
        self._start_rollout(service.id)

    def set_tty(self, service_id: str, tty: bool = True) -> None:
        """Give the service's containers a terminal (ContainerSpec.TTY): its task logs come raw, not
        multiplexed. An update of the task template, rolled out like any other."""
        service = self.find_service(service_id)
        spec = copy_json(service.spec)
        spec["TaskTemplate"]["ContainerSpec"]["TTY"] = tty
        self.replace_spec(service.id, service.index, spec)

    def set_health(self, task_id: str, status: str, output: str = "") -> None:
        """What the task's healthcheck reports from now on ("healthy" or "unhealthy", with ``output``)."""
        task = self.find_task(task_id)
        if status not in ("healthy", "unhealthy") or "Healthcheck" not in task.spec["ContainerSpec"]:
            raise ValueError(f"task {task.id}: health is healthy or unhealthy, for a service with a healthcheck")
        if task.health != status:
            task.health, task.health_output = status, output
            if task.state == "running":
                self._container_event(task, f"health_status: {status}")

    def replace_spec(self, ref: str, version: int, spec: JSON) -> None:
        """POST /services/{id}/update: check as swarmkit's controlapi does, replace the spec (the old one
        becomes PreviousSpec), scale, and roll the tasks when their template changed."""
        service = self.find_service(ref)
        container = spec.get("TaskTemplate", {}).get("ContainerSpec")
        if not isinstance(container, dict) or not container.get("Image"):
            raise ApiError(400, rpc_error("InvalidArgument", "ContainerSpec: image reference must be provided"))
        self._check_references(container)
        if set(spec.get("Mode") or {"Replicated": {}}) != set(service.spec["Mode"]):
            raise ApiError(501, rpc_error("Unimplemented", "service mode change is not allowed"))
        if spec.get("Name") != service.name:
            raise ApiError(501, rpc_error("Unimplemented", "renaming services is not supported"))
        if version != service.index:
            raise ApiError(500, rpc_error("Unknown", "update out of sequence"))
        old_image, old_replicas = service.container_spec["Image"], service.replicas
        template_changed = spec["TaskTemplate"] != service.spec["TaskTemplate"]
        service.previous_spec, service.spec = service.spec, copy_json(spec)
        service.spec.setdefault("Labels", {})
        service.spec.setdefault("Mode", {"Replicated": {"Replicas": 1}})
        service.update_status = None
        self._touch_service(service)
        self._emit("service", "update", service.id, self._update_attributes(service, old_image, old_replicas))
        if not service.is_global and service.replicas != old_replicas:
            self._scale_tasks(service, service.replicas)
        if template_changed:
            self._later(lambda: self._start_rollout(service.id))

    def _update_attributes(self, service: Service, old_image: str, old_replicas: int) -> dict[str, str]:
        """daemon/events.go logServiceEvent: image and replica changes ride on the update event."""
        attributes = {"name": service.name}
        if service.container_spec["Image"] != old_image:
            attributes |= {"image.old": old_image, "image.new": service.container_spec["Image"]}
        if not service.is_global and service.replicas != old_replicas:
            attributes |= {"replicas.old": str(old_replicas), "replicas.new": str(service.replicas)}
        return attributes

    def _check_references(self, container: JSON) -> None:
        for kind, key in (("secret", "Secrets"), ("config", "Configs")):
            missing = []
            for ref in container.get(key) or []:
                blob = self._blobs[kind].get(str(ref.get(f"{kind.title()}ID")))
                if blob is None or blob.name != ref.get(f"{kind.title()}Name"):
                    missing.append(str(ref.get(f"{kind.title()}Name")))
            if missing:
                noun = kind if len(missing) == 1 else kind + "s"
                raise ApiError(400, rpc_error("InvalidArgument", f"{noun} not found: {', '.join(missing)}"))

    def set_node_state(self, node_id: str, state: str) -> None:
        """Status.State of a node: "down" reschedules its replicated tasks and leaves them running in the
        API with DesiredState shutdown, as Docker does; back to "ready", they are reported shut down."""
        node = self.find_node(node_id)
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
        node = self.find_node(node_id)
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

    # --- secrets and configs ------------------------------------------------------------------

    def create_secret(self, name: str, data: bytes, labels: dict[str, str] | None = None) -> str:
        """Like `docker secret create`; returns its ID. Its data never leaves the simulator."""
        return self.create_blob("secret", name, data, labels or {}).id

    def create_config(self, name: str, data: bytes, labels: dict[str, str] | None = None) -> str:
        """Like `docker config create`; returns its ID."""
        return self.create_blob("config", name, data, labels or {}).id

    def create_blob(self, kind: str, name: str, data: bytes, labels: dict[str, str]) -> Blob:
        """Checked as swarmkit checks a secret or config spec; an existing name is a 409."""
        if not name:
            raise ApiError(400, rpc_error("InvalidArgument", "name must be provided"))
        if len(name) > 64 or not VALID_BLOB_NAME.match(name):
            message = "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character "
            raise ApiError(400, rpc_error("InvalidArgument", message + "must be [a-zA-Z0-9]"))
        if not 0 < len(data) < MAX_BLOB_SIZE[kind]:
            message = f"{kind} data must be larger than 0 and less than {MAX_BLOB_SIZE[kind]} bytes"
            raise ApiError(400, rpc_error("InvalidArgument", message))
        if any(b.name == name for b in self._blobs[kind].values()):
            raise ApiError(409, rpc_error("AlreadyExists", f"{kind} {name} already exists"))
        blob = Blob(kind, self._ids.swarm(), self._next_index(), name, dict(labels), data, self._now())
        self._blobs[kind][blob.id] = blob
        self._emit(kind, "create", blob.id, {"name": name})
        return blob

    def remove_blob(self, kind: str, ref: str) -> None:
        """Like `docker secret rm`: refused while a service's spec refers to it."""
        blob = self.find_blob(kind, ref)
        users = self.users_of(blob)
        if users:
            noun = "service" if len(users) == 1 else "services"
            names = ", ".join(s.name for s in users)
            message = f"{kind} '{blob.name}' is in use by the following {noun}: {names}"
            raise ApiError(400, rpc_error("InvalidArgument", message))
        del self._blobs[kind][blob.id]
        self._emit(kind, "remove", blob.id, {"name": blob.name})

    @staticmethod
    def _reference(blob: Blob) -> JSON:
        """How `docker service create --secret NAME` (or --config) refers to it: a file of its name, 0444."""
        file = {"Name": blob.name, "UID": "0", "GID": "0", "Mode": 0o444}
        kind = blob.kind.title()
        return {"File": file, f"{kind}ID": blob.id, f"{kind}Name": blob.name}
