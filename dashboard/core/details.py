"""One task in full, for the details panel: parsed from Docker's task, service and container JSON.

Env values are never kept: TaskDetail holds the names only, and the raw inspect view is the task's
JSON with every ``Env`` list's values replaced by a mask (see ``mask_env``). Revealing one value
is a separate, audited call (DockerClient.task_env_value).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dashboard.core.domain import JSON, Task, as_dict, image_without_digest, parse_task

MASK = "••••••"


@dataclass(frozen=True, slots=True)
class Mount:
    type: str
    source: str
    target: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reference:
    """A secret or config the task uses: its name and where it appears, never its content."""

    name: str
    target: str


@dataclass(frozen=True, slots=True)
class TaskDetail:
    task: Task
    service_name: str
    service_mode: str
    image: str  # as Docker has it in the spec, digest included
    command: tuple[str, ...]
    ports: tuple[str, ...]  # "8080:80/tcp (host)"
    networks: tuple[Network, ...]
    mounts: tuple[Mount, ...]
    limits: tuple[tuple[str, str], ...]  # ("cpus", "0.5"), ("memory", "256 MiB")
    reservations: tuple[tuple[str, str], ...]
    restart_policy: tuple[tuple[str, str], ...]
    constraints: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    env_names: tuple[str, ...]
    secrets: tuple[Reference, ...]
    configs: tuple[Reference, ...]
    health: str  # "healthy" / "unhealthy" / "starting", "" when Docker has none for us
    health_output: str  # the last check's output
    history: tuple[Task, ...]  # earlier attempts of the same slot, newest first
    container_on_this_node: bool


def mask_env(raw: Any) -> Any:
    """A copy of ``raw`` with the value of every KEY=value in any ``Env`` list masked."""
    if isinstance(raw, dict):
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "Env" and isinstance(value, list):
                out[key] = [f"{str(item).split('=', 1)[0]}={MASK}" if "=" in str(item) else item for item in value]
            else:
                out[key] = mask_env(value)
        return out
    if isinstance(raw, list):
        return [mask_env(item) for item in raw]
    return copy.copy(raw)


def env_names(raw_task: JSON) -> tuple[str, ...]:
    env = as_dict(as_dict(raw_task.get("Spec")).get("ContainerSpec")).get("Env")
    return tuple(str(e).split("=", 1)[0] for e in env) if isinstance(env, list) else ()


def env_value(raw_task: JSON, name: str) -> str | None:
    env = as_dict(as_dict(raw_task.get("Spec")).get("ContainerSpec")).get("Env")
    for entry in env if isinstance(env, list) else []:
        key, sep, value = str(entry).partition("=")
        if key == name:
            return value if sep else ""
    return None


def _size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} B"


def _resources(raw: JSON) -> tuple[tuple[str, str], ...]:
    out = []
    if isinstance(raw.get("NanoCPUs"), int) and raw["NanoCPUs"]:
        out.append(("cpus", f"{raw['NanoCPUs'] / 1e9:g}"))
    if isinstance(raw.get("MemoryBytes"), int) and raw["MemoryBytes"]:
        out.append(("memory", _size(raw["MemoryBytes"])))
    if isinstance(raw.get("Pids"), int) and raw["Pids"]:
        out.append(("pids", str(raw["Pids"])))
    return tuple(out)


def _duration(nanos: Any) -> str:
    return f"{nanos / 1e9:g}s" if isinstance(nanos, int) else ""


def _references(raw: Any, name_key: str) -> tuple[Reference, ...]:
    refs = []
    for item in raw if isinstance(raw, list) else []:
        item = as_dict(item)
        target = as_dict(item.get("File")).get("Name") or (item.get("Runtime") and "runtime") or ""
        refs.append(Reference(name=str(item.get(name_key, "")), target=str(target)))
    return tuple(refs)


def _ports(raw_task: JSON) -> tuple[str, ...]:
    ports = as_dict(as_dict(raw_task.get("Status")).get("PortStatus")).get("Ports")
    out = []
    for p in ports if isinstance(ports, list) else []:
        p = as_dict(p)
        published = p.get("PublishedPort")
        out.append(f"{published or '-'}:{p.get('TargetPort')}/{p.get('Protocol', 'tcp')} ({p.get('PublishMode', '')})")
    return tuple(out)


def parse_detail(
    raw_task: JSON,
    raw_service: JSON | None,
    slot_tasks: tuple[Task, ...],
    container: JSON | None,
) -> TaskDetail:
    task = parse_task(raw_task)
    spec = as_dict(raw_task.get("Spec"))
    container_spec = as_dict(spec.get("ContainerSpec"))
    service_spec = as_dict((raw_service or {}).get("Spec"))
    mode = "global" if "Global" in as_dict(service_spec.get("Mode")) else "replicated"
    resources = as_dict(spec.get("Resources"))
    restart = as_dict(spec.get("RestartPolicy"))
    placement = as_dict(spec.get("Placement"))
    health = as_dict(as_dict(as_dict(container).get("State")).get("Health"))
    log = health.get("Log")
    last_output = str(as_dict(log[-1]).get("Output", "")) if isinstance(log, list) and log else ""
    networks = []
    for attachment in raw_task.get("NetworksAttachments") or []:
        attachment = as_dict(attachment)
        net = as_dict(attachment.get("Network"))
        name = str(as_dict(net.get("Spec")).get("Name") or net.get("ID", ""))
        addresses = attachment.get("Addresses")
        networks.append(Network(name=name, addresses=tuple(str(a) for a in addresses or [])))
    mounts = []
    for m in container_spec.get("Mounts") or []:
        m = as_dict(m)
        mounts.append(
            Mount(
                type=str(m.get("Type", "")),
                source=str(m.get("Source", "")),
                target=str(m.get("Target", "")),
                read_only=bool(m.get("ReadOnly")),
            )
        )
    labels = {**{str(k): str(v) for k, v in as_dict(container_spec.get("Labels")).items()}}
    history = tuple(
        sorted((t for t in slot_tasks if t.id != task.id), key=lambda t: (t.created_at, t.id), reverse=True)
    )
    restart_policy = [("condition", str(restart.get("Condition", "any")))]
    if restart.get("Delay") is not None:
        restart_policy.append(("delay", _duration(restart.get("Delay"))))
    if restart.get("MaxAttempts"):
        restart_policy.append(("max attempts", str(restart.get("MaxAttempts"))))
    if restart.get("Window"):
        restart_policy.append(("window", _duration(restart.get("Window"))))
    command = [*(container_spec.get("Command") or []), *(container_spec.get("Args") or [])]
    return TaskDetail(
        task=task,
        service_name=str(service_spec.get("Name", "")),
        service_mode=mode,
        image=str(container_spec.get("Image", "")) or image_without_digest(task.image),
        command=tuple(str(c) for c in command),
        ports=_ports(raw_task),
        networks=tuple(networks),
        mounts=tuple(mounts),
        limits=_resources(as_dict(resources.get("Limits"))),
        reservations=_resources(as_dict(resources.get("Reservations"))),
        restart_policy=tuple(restart_policy),
        constraints=tuple(str(c) for c in placement.get("Constraints") or []),
        labels=tuple(sorted(labels.items())),
        env_names=env_names(raw_task),
        secrets=_references(container_spec.get("Secrets"), "SecretName"),
        configs=_references(container_spec.get("Configs"), "ConfigName"),
        health=str(health.get("Status", "")),
        health_output=last_output.strip()[-2000:],
        history=history,
        container_on_this_node=container is not None,
    )
