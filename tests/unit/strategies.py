"""Hypothesis strategies for the model's objects: any node, service, task, ... and any snapshot."""

from __future__ import annotations

from hypothesis import strategies as st

from dashboard.core.domain import Config, Node, Port, Secret, SecretRef, Service, Task
from dashboard.core.model import Snapshot, Status

IDS = st.sampled_from([f"id{i}" for i in range(8)])
TEXT = st.text(max_size=6)
LABELS = st.lists(st.tuples(TEXT, TEXT), max_size=2).map(lambda xs: tuple(sorted(set(xs))))

nodes = st.builds(
    Node,
    id=IDS,
    hostname=TEXT,
    role=st.sampled_from(["manager", "worker"]),
    leader=st.booleans(),
    reachability=st.sampled_from(["", "reachable", "unreachable"]),
    state=st.sampled_from(["ready", "down", "unknown", "disconnected"]),
    message=TEXT,
    address=TEXT,
    availability=st.sampled_from(["active", "pause", "drain"]),
    engine_version=TEXT,
    platform=TEXT,
    cpus=st.floats(0, 64),
    memory_bytes=st.integers(0, 2**40),
    labels=LABELS,
)
services = st.builds(
    Service,
    id=IDS,
    name=TEXT,
    stack=TEXT,
    image=TEXT,
    mode=st.sampled_from(["replicated", "global"]),
    replicas=st.none() | st.integers(0, 20),
    running_tasks=st.none() | st.integers(0, 20),
    desired_tasks=st.none() | st.integers(0, 20),
    update_state=TEXT,
    update_message=TEXT,
    labels=LABELS,
    ports=st.lists(
        st.builds(
            Port,
            protocol=st.sampled_from(["tcp", "udp"]),
            target=st.integers(1, 65535),
            published=st.none() | st.integers(1, 65535),
            mode=st.sampled_from(["ingress", "host"]),
        ),
        max_size=2,
    ).map(tuple),
    secrets=st.lists(st.builds(SecretRef, id=IDS, name=TEXT, target=TEXT), max_size=2).map(tuple),
    created_at=TEXT,
    updated_at=TEXT,
)
tasks = st.builds(
    Task,
    id=st.sampled_from([f"t{i}" for i in range(12)]),
    service_id=IDS,
    slot=st.none() | st.integers(1, 5),
    node_id=IDS | st.just(""),
    desired_state=st.sampled_from(["running", "shutdown"]),
    state=st.sampled_from(["new", "pending", "assigned", "running", "failed", "shutdown", "complete"]),
    message=TEXT,
    error=TEXT,
    exit_code=st.none() | st.integers(0, 255),
    container_id=TEXT,
    image=TEXT,
    created_at=TEXT,
    updated_at=TEXT,
    status_at=TEXT,
    health=st.sampled_from(["", "healthy"]),
)
secrets = st.builds(Secret, id=IDS, name=TEXT, labels=LABELS, driver=TEXT, created_at=TEXT, updated_at=TEXT)
configs = st.builds(Config, id=IDS, name=TEXT, labels=LABELS, created_at=TEXT, updated_at=TEXT)
statuses = st.builds(Status, state=st.sampled_from(["connecting", "live", "reconnecting", "error"]), reason=TEXT)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    return Snapshot.build(
        seq=draw(st.integers(0, 1000)),
        status=draw(statuses),
        nodes=draw(st.lists(nodes, max_size=6)),
        services=draw(st.lists(services, max_size=6)),
        tasks=draw(st.lists(tasks, max_size=12)),
        secrets=draw(st.lists(secrets, max_size=3)),
        configs=draw(st.lists(configs, max_size=3)),
    )
