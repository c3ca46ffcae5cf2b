"""One task in full, for the details panel: parsed from Docker's task, service and container JSON.

Everything shown is read from the task's JSON as dashboard.core.masking masks it (env values,
driver and log options, the healthcheck's command, secret-looking labels, arguments and
constraints; the last health check's output as a script's words are, with no reveal): clear
values never reach a TaskDetail. A masked value carries the pointer that
names it, for an operator's reveal - a separate, audited call (DockerClient.task_masked_value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboard.core.domain import JSON, Task, as_dict, image_without_digest, parse_task
from dashboard.core.masking import DEFAULT_KEYS, MASK, Masked, SecretKeys, mask, pointer_step
from dashboard.core.masking_text import mask_output

__all__ = ["MASK", "Mount", "Network", "Reference", "TaskDetail", "Value", "parse_detail"]


@dataclass(frozen=True, slots=True)
class Value:
    """A string as a viewer may see it; ``path`` names it when something in it is masked."""

    text: str
    path: str = ""


Options = tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Mount:
    type: str
    source: str
    target: str
    read_only: bool
    driver: str = ""  # a volume's driver, "" for the local one or a bind
    options: Options = ()  # the volume driver's options, masked


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
    command: tuple[Value, ...]
    ports: tuple[str, ...]  # "8080:80/tcp (host)"
    networks: tuple[Network, ...]
    mounts: tuple[Mount, ...]
    limits: tuple[tuple[str, str], ...]  # ("cpus", "0.5"), ("memory", "256 MiB")
    reservations: tuple[tuple[str, str], ...]
    restart_policy: tuple[tuple[str, str], ...]
    constraints: tuple[Value, ...]
    labels: Options
    env: tuple[Value, ...]  # "NAME=••••••" (or a name alone)
    log_driver: str  # the task's own, "" for the daemon's default
    log_options: Options
    healthcheck: tuple[Value, ...]  # the spec's Healthcheck.Test: its form, the command masked
    secrets: tuple[Reference, ...]
    configs: tuple[Reference, ...]
    health: str  # "healthy" / "unhealthy" / "starting", "" when Docker has none for us
    health_output: str  # the last check's output, masked as a script is (no reveal: Docker keeps it only a while)
    history: tuple[Task, ...]  # earlier attempts of the same slot, newest first
    container_on_this_node: bool


def health_output(text: str, keys: SecretKeys = DEFAULT_KEYS) -> str:
    """A health check's output as a viewer may see it (a node agent's too): masked before it is
    cut, so a cut never splits "--password x" from its value; no reveal."""
    return mask_output(text, keys).strip()[-2000:]


def _shown(masked: Masked, document: Any, pointer: str) -> Value:
    return Value(document if isinstance(document, str) else str(document), pointer if pointer in masked.clear else "")


def _list(masked: Masked, raw: Any, pointer: str) -> tuple[Value, ...]:
    return tuple(_shown(masked, v, f"{pointer}/{i}") for i, v in enumerate(raw if isinstance(raw, list) else []))


def _options(masked: Masked, raw: Any, pointer: str) -> Options:
    items = raw.items() if isinstance(raw, dict) else ()
    return tuple(sorted((str(k), _shown(masked, v, pointer + pointer_step(str(k)))) for k, v in items))


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
    keys: SecretKeys = DEFAULT_KEYS,
) -> tuple[TaskDetail, JSON]:
    """The task in full, and its inspect JSON: both masked by one rule (see dashboard.core.masking)."""
    task = parse_task(raw_task)
    masked = mask(raw_task, keys)
    shown: JSON = masked.document
    spec = as_dict(shown.get("Spec"))
    container_spec = as_dict(spec.get("ContainerSpec"))
    cs = "/Spec/ContainerSpec"
    service_spec = as_dict((raw_service or {}).get("Spec"))
    mode = "global" if "Global" in as_dict(service_spec.get("Mode")) else "replicated"
    resources = as_dict(spec.get("Resources"))
    restart = as_dict(spec.get("RestartPolicy"))
    placement = as_dict(spec.get("Placement"))
    health = as_dict(as_dict(as_dict(container).get("State")).get("Health"))
    log = health.get("Log")
    last_output = str(as_dict(log[-1]).get("Output", "")) if isinstance(log, list) and log else ""
    networks = []
    for attachment in shown.get("NetworksAttachments") or []:
        attachment = as_dict(attachment)
        net = as_dict(attachment.get("Network"))
        name = str(as_dict(net.get("Spec")).get("Name") or net.get("ID", ""))
        addresses = attachment.get("Addresses")
        networks.append(Network(name=name, addresses=tuple(str(a) for a in addresses or [])))
    mounts = []
    raw_mounts = container_spec.get("Mounts")
    for i, m in enumerate(raw_mounts if isinstance(raw_mounts, list) else []):
        m = as_dict(m)
        driver = as_dict(as_dict(m.get("VolumeOptions")).get("DriverConfig"))
        mounts.append(
            Mount(
                type=str(m.get("Type", "")),
                source=str(m.get("Source", "")),
                target=str(m.get("Target", "")),
                read_only=bool(m.get("ReadOnly")),
                driver=str(driver.get("Name") or ""),
                options=_options(masked, driver.get("Options"), f"{cs}/Mounts/{i}/VolumeOptions/DriverConfig/Options"),
            )
        )
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
    log_driver = as_dict(spec.get("LogDriver"))
    detail = TaskDetail(
        task=task,
        service_name=str(service_spec.get("Name", "")),
        service_mode=mode,
        image=str(container_spec.get("Image", "")) or image_without_digest(task.image),
        command=(
            *_list(masked, container_spec.get("Command"), f"{cs}/Command"),
            *_list(masked, container_spec.get("Args"), f"{cs}/Args"),
        ),
        ports=_ports(shown),
        networks=tuple(networks),
        mounts=tuple(mounts),
        limits=_resources(as_dict(resources.get("Limits"))),
        reservations=_resources(as_dict(resources.get("Reservations"))),
        restart_policy=tuple(restart_policy),
        constraints=_list(masked, placement.get("Constraints"), "/Spec/Placement/Constraints"),
        labels=_options(masked, container_spec.get("Labels"), f"{cs}/Labels"),
        env=_list(masked, container_spec.get("Env"), f"{cs}/Env"),
        log_driver=str(log_driver.get("Name") or ""),
        log_options=_options(masked, log_driver.get("Options"), "/Spec/LogDriver/Options"),
        healthcheck=_list(masked, as_dict(container_spec.get("Healthcheck")).get("Test"), f"{cs}/Healthcheck/Test"),
        secrets=_references(container_spec.get("Secrets"), "SecretName"),
        configs=_references(container_spec.get("Configs"), "ConfigName"),
        health=str(health.get("Status", "")),
        health_output=health_output(last_output, keys),
        history=history,
        container_on_this_node=container is not None,
    )
    return detail, shown
