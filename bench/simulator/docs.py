"""The JSON documents of nodes, services, tasks, secrets and configs, and the specs of planned services.

Key order and omitted fields follow what a real daemon sends (tests/integration/test_simulator_shapes.py
compares them with a real 20.10 swarm).
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Iterator

from bench.simulator.model import HEALTHCHECK, JSON, Blob, Node, Planned, Service, Task, rfc3339

LOG_DRIVERS = ("awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "splunk", "syslog")
NETWORK_DRIVERS = ("bridge", "host", "ipvlan", "macvlan", "null", "overlay")
STACKS = ("shop", "billing", "search", "auth", "media", "ads", "chat", "mail", "maps", "pay", "feed", "ml", "cdn")
COMPONENTS = ("api", "web", "worker", "cache", "queue", "cron", "proxy", "indexer", "scheduler", "notifier", "render")
PUBLISHING_COMPONENTS = frozenset({"proxy", "web"})
REPLICA_SIZES = (1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 100, 200)
GLOBAL_SERVICES = (
    ("monitoring_node-exporter", "prom/node-exporter:v1.6.1"),
    ("logging_fluent-bit", "fluent/fluent-bit:2.1.10"),
    ("security_falco", "falcosecurity/falco:0.36.1"),
)


def plugins(*, legacy: bool) -> list[JSON]:
    """A node's engine plugins; the logentries log driver left the engine in 25.0."""
    logs = sorted((*LOG_DRIVERS, "logentries") if legacy else LOG_DRIVERS)
    return [
        *({"Type": "Log", "Name": n} for n in logs),
        *({"Type": "Network", "Name": n} for n in NETWORK_DRIVERS),
        {"Type": "Volume", "Name": "local"},
    ]


def node_doc(node: Node, tls_info: JSON, engine: str, plugin_list: list[JSON]) -> JSON:
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
            "Engine": {"EngineVersion": engine, "Plugins": plugin_list},
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


def service_doc(service: Service) -> JSON:
    doc: JSON = {
        "ID": service.id,
        "Version": {"Index": service.index},
        "CreatedAt": rfc3339(service.created_ns),
        "UpdatedAt": rfc3339(service.updated_ns),
        "Spec": service.spec,
    }
    if service.previous_spec is not None:
        doc["PreviousSpec"] = service.previous_spec
    ports = service.ports
    doc["Endpoint"] = {"Spec": service.spec.get("EndpointSpec", {}), "Ports": ports} if ports else {"Spec": {}}
    if service.update_status is not None:
        doc["UpdateStatus"] = service.update_status
    return doc


def task_doc(task: Task) -> JSON:
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


def blob_doc(blob: Blob) -> JSON:
    """A secret never shows its data; a config does (Spec.Data, base64)."""
    spec: JSON = {"Name": blob.name, "Labels": blob.labels}
    if blob.kind == "config":
        spec["Data"] = base64.b64encode(blob.data).decode()
    return {
        "ID": blob.id,
        "Version": {"Index": blob.index},
        "CreatedAt": rfc3339(blob.created_ns),
        "UpdatedAt": rfc3339(blob.updated_ns or blob.created_ns),
        "Spec": spec,
    }


def service_spec(rng: random.Random, planned: Planned, *, references: dict[str, list[JSON]] | None = None) -> JSON:
    """``references``: "Secrets" and "Configs" lists, as a spec carries them."""
    container: JSON = {"Image": planned.image}
    if planned.stack:
        container["Labels"] = {"com.docker.stack.namespace": planned.stack}
    container["Args"] = ["serve"]
    if planned.stack:
        container["Env"] = ["LOG_LEVEL=info", f"DB_PASSWORD={rng.getrandbits(64):016x}"]
    container |= {"Init": False, "StopGracePeriod": 10_000_000_000}
    if planned.healthcheck:
        container["Healthcheck"] = dict(HEALTHCHECK)
    container["DNSConfig"] = {}
    for key, refs in (references or {}).items():
        if refs:
            container[key] = refs
    container["Isolation"] = "default"
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
            "Placement": {"Constraints": list(planned.constraints)} if planned.constraints else {},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": mode,
        "EndpointSpec": endpoint,
    }


def task_spec(spec: JSON) -> JSON:
    return {k: v for k, v in spec["TaskTemplate"].items() if k != "Runtime"}


def plan_services(rng: random.Random, nodes: int, tasks: int, globals_: int) -> Iterator[Planned]:
    """Replicated services of mixed sizes (most in stacks, a few host-published), plus global ones."""
    for name, image in GLOBAL_SERVICES[:globals_]:
        yield Planned(name, image, name.split("_", 1)[0], None, publishes=False)
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
        yield Planned(name, image, stack, replicas, publishes)
