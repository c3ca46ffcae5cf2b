"""One service in full, for its page: parsed from Docker's /services/{id} as dashboard.core.masking
masks it (env values, secret-looking arguments, labels and constraints): clear values never reach a
ServiceDetail. What moves (its tasks, the update's progress) comes from the live model instead, so
that the page's live part costs Docker nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dashboard.core.details import Value, _duration, _list, _resources
from dashboard.core.domain import JSON, Service, Task, as_dict, parse_service
from dashboard.core.masking import DEFAULT_KEYS, SecretKeys, mask

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ServiceDetail:
    service: Service
    image: str  # as the spec has it, digest included
    command: tuple[Value, ...]
    env: tuple[Value, ...]
    constraints: tuple[Value, ...]
    preferences: tuple[str, ...]  # "spread node.labels.zone"
    max_replicas_per_node: int | None
    limits: Pairs
    reservations: Pairs
    restart_policy: Pairs
    update_config: Pairs
    rollback_config: Pairs
    update_started: str  # UpdateStatus.StartedAt, "" when no update ran
    update_completed: str


_UPDATE_KEYS = (
    ("Parallelism", "parallelism", str),
    ("Delay", "delay", _duration),
    ("FailureAction", "on failure", str),
    ("Monitor", "monitor", _duration),
    ("MaxFailureRatio", "max failure ratio", str),
    ("Order", "order", str),
)


def _config(raw: JSON) -> Pairs:
    """An UpdateConfig or RollbackConfig in words; Docker leaves defaults out, so they are named."""
    out = []
    for key, label, show in _UPDATE_KEYS:
        value: Any = raw.get(key)
        if value is not None and value != "":
            out.append((label, show(value)))
    return tuple(out)


def _preferences(raw: Any) -> tuple[str, ...]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        spread = as_dict(as_dict(item).get("Spread")).get("SpreadDescriptor")
        if isinstance(spread, str):
            out.append(f"spread {spread}")
    return tuple(out)


def _restart(raw: JSON) -> Pairs:
    out = [("condition", str(raw.get("Condition", "any")))]
    for key, label in (("Delay", "delay"), ("Window", "window")):
        if raw.get(key):
            out.append((label, _duration(raw[key])))
    if raw.get("MaxAttempts"):
        out.append(("max attempts", str(raw["MaxAttempts"])))
    return tuple(out)


def parse_service_detail(raw: JSON, keys: SecretKeys = DEFAULT_KEYS) -> ServiceDetail:
    masked = mask(raw, keys)
    shown = masked.document
    spec = as_dict(shown.get("Spec"))
    template = as_dict(spec.get("TaskTemplate"))
    container = as_dict(template.get("ContainerSpec"))
    placement = as_dict(template.get("Placement"))
    resources = as_dict(template.get("Resources"))
    cs = "/Spec/TaskTemplate/ContainerSpec"
    status = as_dict(shown.get("UpdateStatus"))
    max_replicas = placement.get("MaxReplicas")
    return ServiceDetail(
        service=parse_service(raw),  # its labels are shown as the grid shows them (wire.labels_json)
        image=str(container.get("Image", "")),
        command=(
            *_list(masked, container.get("Command"), f"{cs}/Command"),
            *_list(masked, container.get("Args"), f"{cs}/Args"),
        ),
        env=_list(masked, container.get("Env"), f"{cs}/Env"),
        constraints=_list(masked, placement.get("Constraints"), "/Spec/TaskTemplate/Placement/Constraints"),
        preferences=_preferences(placement.get("Preferences")),
        max_replicas_per_node=max_replicas if isinstance(max_replicas, int) and max_replicas > 0 else None,
        limits=_resources(as_dict(resources.get("Limits"))),
        reservations=_resources(as_dict(resources.get("Reservations"))),
        restart_policy=_restart(as_dict(template.get("RestartPolicy"))),
        update_config=_config(as_dict(spec.get("UpdateConfig"))),
        rollback_config=_config(as_dict(spec.get("RollbackConfig"))),
        update_started=str(status.get("StartedAt", "")),
        update_completed=str(status.get("CompletedAt", "")),
    )


def update_progress(service: Service, tasks: Iterable[Task], started: str) -> tuple[int, int]:
    """(tasks of the update done, tasks it must replace): a task counts as done once it runs and
    was created after the update started, as ``docker service update`` counts its progress."""
    wanted = [t for t in tasks if t.service_id == service.id and t.desired_state == "running"]
    done = sum(1 for t in wanted if t.state == "running" and started and t.created_at >= started)
    total = service.replicas if service.mode == "replicated" and service.replicas is not None else len(wanted)
    return done, total
