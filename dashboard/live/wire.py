"""The model as it travels: JSON for /api/snapshot and the websocket, and each service's colour.

Labels travel with their secret-looking values masked (dashboard.core.masking, SECRET_PATTERNS),
as every viewer sees them; only tasks come by the thousand, and they carry no labels. The same
labels come back with every snapshot, resync and patch: each masked value is remembered (a bounded
LRU, by the rule and the label), so that a large value is masked once, not once per frame.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from dashboard.core.domain import Config, Labels, Node, Secret, Service, Task
from dashboard.core.masking import DEFAULT_PATTERNS, SecretKeys, masked_label, rule
from dashboard.core.model import KindPatch, Patch, Snapshot, Status, counts

CACHED_LABELS = 4096  # labels remembered masked, if their value is at most CACHED_LABEL_CHARS long
CACHED_LABEL_CHARS = 4096  # so at most 2 * 16 M characters held


@functools.lru_cache(maxsize=CACHED_LABELS)
def _cached_label(keys: SecretKeys, key: str, value: str) -> str:
    return masked_label(key, value, keys)


def labels_json(labels: Labels) -> dict[str, str]:
    """Labels as every viewer sees them, secret-looking values masked (the secrets page's too)."""
    if not labels:
        return {}
    try:
        patterns = settings.SECRET_PATTERNS
    except (ImproperlyConfigured, AttributeError):  # the benchmarks use the wire without Django's settings
        patterns = DEFAULT_PATTERNS
    keys = rule(patterns)
    return {
        k: _cached_label(keys, k, v) if len(v) <= CACHED_LABEL_CHARS else masked_label(k, v, keys) for k, v in labels
    }


def node_json(node: Node) -> dict[str, Any]:
    data = dataclasses.asdict(node)
    data["labels"] = labels_json(node.labels)
    return data


def service_hue(name: str) -> int:
    """A stable colour for a service: one of 36 hues, from its name (FNV-1a), the same everywhere."""
    h = 0x811C9DC5
    for byte in name.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % 36


def service_json(service: Service) -> dict[str, Any]:
    data = dataclasses.asdict(service)
    data["labels"] = labels_json(service.labels)
    data["hue"] = service_hue(service.name)
    return data


_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(Task))


def task_json(task: Task) -> dict[str, Any]:
    # every field is a plain value: no need for dataclasses.asdict's deep copy (5x slower)
    data = {name: getattr(task, name) for name in _TASK_FIELDS}
    data["docker_state"] = task.state
    data["state"] = "orphaned" if task.orphaned else task.state
    return data


def labelled_json(item: Secret | Config) -> dict[str, Any]:
    data = dataclasses.asdict(item)
    data["labels"] = labels_json(item.labels)
    return data


def status_json(status: Status) -> dict[str, Any]:
    return dataclasses.asdict(status)


def snapshot_json(snapshot: Snapshot, *, with_tasks: bool = True) -> dict[str, Any]:
    """The whole model; services carry the derived ``running``/``desired`` counts.
    ``with_tasks=False``: ``tasks`` is left empty, for a caller that serializes them itself."""
    service_counts = counts(snapshot)
    services = []
    for service in snapshot.services.values():
        data = service_json(service)
        data["running"], data["desired"] = service_counts[service.id]
        services.append(data)
    return {
        "seq": snapshot.seq,
        "status": status_json(snapshot.status),
        "nodes": [node_json(n) for n in snapshot.nodes.values()],
        "services": services,
        "tasks": [task_json(t) for t in snapshot.tasks.values()] if with_tasks else [],
        "secrets": [labelled_json(x) for x in snapshot.secrets.values()],
        "configs": [labelled_json(x) for x in snapshot.configs.values()],
    }


def patch_json(patch: Patch) -> dict[str, Any]:
    def kind(p: KindPatch[Any], render: Any) -> dict[str, Any]:
        return {"upsert": [render(x) for x in (*p.added, *p.changed)], "removed": list(p.removed)}

    data: dict[str, Any] = {
        "base_seq": patch.base_seq,
        "seq": patch.seq,
        "nodes": kind(patch.nodes, node_json),
        "services": kind(patch.services, service_json),
        "tasks": kind(patch.tasks, task_json),
        "secrets": kind(patch.secrets, labelled_json),
        "configs": kind(patch.configs, labelled_json),
    }
    if patch.status is not None:
        data["status"] = status_json(patch.status)
    return data
