"""The swarm in small frozen objects, parsed from the Docker Engine API's JSON.

Parsing lives here so that nothing raw leaves dashboard.core.docker. Every parser is total: a
field Docker leaves out becomes None or an empty value, never a KeyError, because the API's
shapes vary by version and by state (a pending task has no NodeID, a global service no Replicas).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]
Labels = tuple[tuple[str, str], ...]


def _labels(raw: Any) -> Labels:
    if not isinstance(raw, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in raw.items()))


def _str(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""


def _int(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def valid_id(object_id: str) -> bool:
    """A Docker object id as the API gives it (lower-case alphanumerics): what may go into a URL to Docker."""
    return 0 < len(object_id) <= 64 and set(object_id) <= _ID_CHARS


def docker_time(text: str) -> datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds, "Z"), None when empty or not one."""
    if not text:
        return None
    try:
        # Docker gives nanoseconds; Python keeps microseconds
        head, _, tail = text.rstrip("Z").partition(".")
        return datetime.fromisoformat(head + ("." + tail[:6] if tail else "")).replace(tzinfo=UTC)
    except ValueError:
        return None


def as_dict(raw: Any) -> JSON:
    return raw if isinstance(raw, dict) else {}


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    hostname: str
    role: str  # "manager" | "worker"
    leader: bool
    reachability: str  # manager reachability ("reachable", "unreachable", ...) or "" for workers
    state: str  # Docker's Status.State: "ready", "down", "unknown", "disconnected"
    message: str
    address: str
    availability: str  # "active", "pause", "drain"
    engine_version: str
    platform: str  # "linux/x86_64"
    cpus: float
    memory_bytes: int
    labels: Labels
    # from the node agents, never from Docker: a node agent of this node is connected (dashboard.core.agents_store)
    agent: bool = False


@dataclass(frozen=True, slots=True)
class Port:
    protocol: str
    target: int
    published: int | None
    mode: str  # "ingress" | "host"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret or config a service's tasks use: which one, and where it appears in the container."""

    id: str
    name: str
    target: str  # the file name (/run/secrets/<target> for secrets)


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    stack: str  # com.docker.stack.namespace, "" outside a stack
    image: str  # without the @sha256 digest
    mode: str  # "replicated" | "global" | "replicated-job" | "global-job"
    replicas: int | None  # None for global services
    running_tasks: int | None  # from ?status=true (API >= 1.41)
    desired_tasks: int | None
    update_state: str  # UpdateStatus.State ("updating", "completed", "rollback_started", ...) or ""
    update_message: str
    labels: Labels
    ports: tuple[Port, ...]
    created_at: str
    updated_at: str
    secrets: tuple[SecretRef, ...] = ()
    configs: tuple[SecretRef, ...] = ()
    # what each task asks of its node (Resources.Reservations): CPU cores, memory bytes; 0: nothing
    reservations: tuple[float, int] = (0.0, 0)
    # UpdateStatus.StartedAt: when the current (or last) update or rollback began; "" if none
    update_started_at: str = ""


@dataclass(frozen=True, slots=True)
class Secret:
    """A Docker secret's metadata. Docker never returns a secret's value, and neither do we."""

    id: str
    name: str
    labels: Labels
    driver: str  # "" for Docker's internal store
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Config:
    """A Docker config's metadata; its data is read on demand (configs are not secret), not kept here."""

    id: str
    name: str
    labels: Labels
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    service_id: str
    slot: int | None  # None for global services (they are keyed by node)
    node_id: str  # "" while unassigned (pending)
    desired_state: str
    state: str  # Docker's Status.State
    message: str
    error: str
    exit_code: int | None
    container_id: str
    image: str
    created_at: str
    updated_at: str
    status_at: str  # Status.Timestamp: when the task entered its current state
    health: str  # "healthy" | "unhealthy" | "starting" | "" when unknown
    # derived by dashboard.core.model, never by Docker: Docker still says "running" for a task on a
    # node that is down; such a task is shown as orphaned
    orphaned: bool = False
    # from the node agent of the task's node, never from Docker's /tasks: its container was OOM-killed
    oom_killed: bool = False


def image_without_digest(image: str) -> str:
    return image.split("@", 1)[0]


def parse_node(raw: JSON) -> Node:
    spec = as_dict(raw.get("Spec"))
    desc = as_dict(raw.get("Description"))
    status = as_dict(raw.get("Status"))
    manager = raw.get("ManagerStatus")
    manager = manager if isinstance(manager, dict) else None
    platform = as_dict(desc.get("Platform"))
    resources = as_dict(desc.get("Resources"))
    nano_cpus = _int(resources.get("NanoCPUs")) or 0
    address = _str(status.get("Addr"))
    if manager is not None and (not address or address == "0.0.0.0"):  # noqa: S104 - Docker's "unset"
        address = _str(manager.get("Addr")).rsplit(":", 1)[0]
    return Node(
        id=_str(raw.get("ID")),
        hostname=_str(desc.get("Hostname")),
        role=_str(spec.get("Role")) or ("manager" if manager else "worker"),
        leader=bool(manager and manager.get("Leader") is True),
        reachability=_str(manager.get("Reachability")) if manager else "",
        state=_str(status.get("State")) or "unknown",
        message=_str(status.get("Message")),
        address=address,
        availability=_str(spec.get("Availability")) or "active",
        engine_version=_str(as_dict(desc.get("Engine")).get("EngineVersion")),
        platform="/".join(p for p in (_str(platform.get("OS")), _str(platform.get("Architecture"))) if p),
        cpus=nano_cpus / 1e9,
        memory_bytes=_int(resources.get("MemoryBytes")) or 0,
        labels=_labels(spec.get("Labels")),
    )


def _service_mode(mode: JSON) -> tuple[str, int | None]:
    if "Replicated" in mode:
        return "replicated", _int(as_dict(mode["Replicated"]).get("Replicas"))
    if "Global" in mode:
        return "global", None
    if "ReplicatedJob" in mode:
        return "replicated-job", _int(as_dict(mode["ReplicatedJob"]).get("TotalCompletions"))
    if "GlobalJob" in mode:
        return "global-job", None
    return "replicated", None


def _ports(endpoint: JSON) -> tuple[Port, ...]:
    raw_ports = endpoint.get("Ports")
    if not isinstance(raw_ports, list):
        raw_ports = as_dict(as_dict(endpoint.get("Spec"))).get("Ports")
    if not isinstance(raw_ports, list):
        return ()
    ports = []
    for p in raw_ports:
        p = as_dict(p)
        ports.append(
            Port(
                protocol=_str(p.get("Protocol")) or "tcp",
                target=_int(p.get("TargetPort")) or 0,
                published=_int(p.get("PublishedPort")),
                mode=_str(p.get("PublishMode")) or "ingress",
            )
        )
    return tuple(ports)


def _refs(raw: Any, id_key: str, name_key: str) -> tuple[SecretRef, ...]:
    refs = []
    for item in raw if isinstance(raw, list) else []:
        item = as_dict(item)
        refs.append(
            SecretRef(
                id=_str(item.get(id_key)),
                name=_str(item.get(name_key)),
                target=_str(as_dict(item.get("File")).get("Name")),
            )
        )
    return tuple(refs)


def parse_secret(raw: JSON) -> Secret:
    spec = as_dict(raw.get("Spec"))
    return Secret(
        id=_str(raw.get("ID")),
        name=_str(spec.get("Name")),
        labels=_labels(spec.get("Labels")),
        driver=_str(as_dict(spec.get("Driver")).get("Name")),
        created_at=_str(raw.get("CreatedAt")),
        updated_at=_str(raw.get("UpdatedAt")),
    )


def parse_config(raw: JSON) -> Config:
    spec = as_dict(raw.get("Spec"))
    return Config(
        id=_str(raw.get("ID")),
        name=_str(spec.get("Name")),
        labels=_labels(spec.get("Labels")),
        created_at=_str(raw.get("CreatedAt")),
        updated_at=_str(raw.get("UpdatedAt")),
    )


def parse_service(raw: JSON) -> Service:
    spec = as_dict(raw.get("Spec"))
    labels = _labels(spec.get("Labels"))
    container = as_dict(as_dict(spec.get("TaskTemplate")).get("ContainerSpec"))
    mode, replicas = _service_mode(as_dict(spec.get("Mode")))
    status = raw.get("ServiceStatus")
    status = status if isinstance(status, dict) else {}
    update = as_dict(raw.get("UpdateStatus"))
    return Service(
        id=_str(raw.get("ID")),
        name=_str(spec.get("Name")),
        stack=dict(labels).get("com.docker.stack.namespace", ""),
        image=image_without_digest(_str(container.get("Image"))),
        mode=mode,
        replicas=replicas,
        running_tasks=_int(status.get("RunningTasks")),
        desired_tasks=_int(status.get("DesiredTasks")),
        update_state=_str(update.get("State")),
        update_message=_str(update.get("Message")),
        update_started_at=_str(update.get("StartedAt")),
        labels=labels,
        ports=_ports(as_dict(raw.get("Endpoint"))),
        created_at=_str(raw.get("CreatedAt")),
        updated_at=_str(raw.get("UpdatedAt")),
        secrets=_refs(container.get("Secrets"), "SecretID", "SecretName"),
        configs=_refs(container.get("Configs"), "ConfigID", "ConfigName"),
        reservations=_reservations(
            as_dict(as_dict(as_dict(spec.get("TaskTemplate")).get("Resources")).get("Reservations"))
        ),
    )


def _reservations(raw: JSON) -> tuple[float, int]:
    """NanoCPUs and MemoryBytes as cores and bytes; junk or a negative value counts as none."""
    cpus = _int(raw.get("NanoCPUs")) or 0
    memory = _int(raw.get("MemoryBytes")) or 0
    return (max(cpus, 0) / 1e9, max(memory, 0))


def parse_task(raw: JSON) -> Task:
    status = as_dict(raw.get("Status"))
    container_status = as_dict(status.get("ContainerStatus"))
    spec = as_dict(raw.get("Spec"))
    container = as_dict(spec.get("ContainerSpec"))
    health = ""
    # Docker puts no health on the task itself; a few builds carry it in the container status
    if isinstance(container_status.get("Health"), str):
        health = container_status["Health"]
    return Task(
        id=_str(raw.get("ID")),
        service_id=_str(raw.get("ServiceID")),
        slot=_int(raw.get("Slot")),
        node_id=_str(raw.get("NodeID")),
        desired_state=_str(raw.get("DesiredState")),
        state=_str(status.get("State")) or "new",
        message=_str(status.get("Message")),
        error=_str(status.get("Err")),
        exit_code=_int(container_status.get("ExitCode")) if container_status else None,
        container_id=_str(container_status.get("ContainerID")),
        image=image_without_digest(_str(container.get("Image"))),
        created_at=_str(raw.get("CreatedAt")),
        updated_at=_str(raw.get("UpdatedAt")),
        status_at=_str(status.get("Timestamp")),
        health=health,
    )
