"""The operator's pages' pure parts: the services x nodes matrix, a service's spec as shown (masked),
and the merge of several tasks' log lines into one timestamp order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.core import matrix
from dashboard.core.model import Snapshot, Status
from dashboard.core.service_detail import parse_service_detail, update_progress
from dashboard.live.service_logs import Reorder, log_tasks, prefix, sort_key
from dashboard.pages import matrix_filter, matrix_render
from tests.unit.fakedocker import node, service, task

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def in_stack(service_id: str, name: str, stack: str) -> Any:
    return dataclasses.replace(service(service_id), name=name, stack=stack)


def test_the_matrix_groups_services_by_stack_orders_by_name_and_counts_per_node() -> None:
    nodes = [dataclasses.replace(node("b"), hostname="node-b"), dataclasses.replace(node("a"), hostname="node-a"),
             node("c", state="down")]  # fmt: skip
    services = [in_stack("s1", "zeta", ""), in_stack("s2", "shop_web", "shop"), in_stack("s3", "bill_api", "bill"),
                in_stack("s4", "alpha", "")]  # fmt: skip
    failed = dataclasses.replace(
        task("f", "s2", "b", state="failed", desired="shutdown"), status_at="2026-11-30T11:59:00Z"
    )
    old = dataclasses.replace(failed, id="old", status_at="2026-11-30T10:00:00Z")
    tasks = [task("t1", "s2", "a"), task("t2", "s2", "b"), task("t3", "s2", "b", state="starting"), failed, old,
             task("t4", "s1", "c")]  # fmt: skip
    model = Snapshot.build(seq=1, status=Status(state="live"), nodes=nodes, services=services, tasks=tasks)
    built = matrix.build(model, now=NOW, window=timedelta(minutes=15))
    assert [n.id for n in built.nodes] == ["c", "a", "b"]  # by hostname: host-c < node-a < node-b
    assert [(s.name, [r.service.name for r in s.rows]) for s in built.stacks] == [
        ("bill", ["bill_api"]), ("shop", ["shop_web"]), (matrix.NO_STACK, ["alpha", "zeta"]),
    ]  # fmt: skip
    shop = built.stacks[1].rows[0]
    assert [(i, c.node_id, c.running, c.active, c.failed) for i, c in shop.cells] == [
        (1, "a", 1, 0, 0), (2, "b", 1, 1, 1),
    ]  # fmt: skip
    assert (shop.running, shop.desired) == (2, 1)
    zeta = built.stacks[2].rows[1]
    assert zeta.cells == ((0, matrix.Cell("c", running=0, active=1)),)  # orphaned on the down node: not running
    html = matrix_render.table(built, services_url="/services/", nodes_url="/nodes/")
    assert html.count("<tr data-service-id=") == 4 and html.count("<td></td>") == 1  # shop_web's, before a
    assert html.count('<td colspan="3"></td>') == 2 and html.count('<td colspan="2"></td>') == 1  # runs of empty
    assert '<td class="cell" data-node-id="b" data-running="1" data-active="1" data-failed="1">' in html
    # the bar's filter: rows by service, stack or free text, columns by node, every term at once
    narrowed = matrix_filter.narrow(built, "SHOP node:node-b state:running")
    assert [n.id for n in narrowed.nodes] == ["b"]
    assert [(s.name, [(i, c.node_id) for r in s.rows for i, c in r.cells]) for s in narrowed.stacks] == [
        ("shop", [(0, "b")])
    ]
    assert [s.name for s in matrix_filter.narrow(built, "stack:bill").stacks] == ["bill"]
    assert [r.service.name for s in matrix_filter.narrow(built, "service:*a*").stacks for r in s.rows] == [
        "bill_api", "alpha", "zeta",
    ]  # fmt: skip
    assert matrix_filter.narrow(built, "nothing-like-it").stacks == ()


SERVICE_JSON = {
    "ID": "s1", "CreatedAt": "2026-11-30T10:00:00Z", "UpdatedAt": "2026-11-30T11:00:00Z",
    "Spec": {
        "Name": "api", "Labels": {"traefik.http.middlewares.a.basicauth.users": "u:$apr1$x", "team": "core"},
        "Mode": {"Replicated": {"Replicas": 3}},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "api:2@sha256:abc", "Args": ["--db-password", "hunter2", "-v"],
                              "Env": ["DB_PASSWORD=hunter2", "LOG=1"]},
            "Placement": {"Constraints": ["node.labels.db_password==hunter2", "node.role==worker"],
                          "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}], "MaxReplicas": 2},
            "Resources": {"Limits": {"MemoryBytes": 268435456}, "Reservations": {"NanoCPUs": 250000000}},
            "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 3},
        },
        "UpdateConfig": {"Parallelism": 2, "Delay": 5000000000, "FailureAction": "rollback", "Order": "start-first"},
        "RollbackConfig": {"Parallelism": 1},
    },
    "UpdateStatus": {"State": "updating", "StartedAt": "2026-11-30T11:00:00Z"},
}  # fmt: skip


def test_a_services_spec_is_shown_in_words_with_its_secrets_masked() -> None:
    d = parse_service_detail(SERVICE_JSON)
    shown = repr(d)
    assert "hunter2" not in shown.replace(repr(d.service), "")  # the clear labels stay in the model's Service only
    assert [v.text for v in d.env] == ["DB_PASSWORD=••••••", "LOG=••••••"]  # every env value, as a task's
    assert [v.text for v in d.command] == ["--db-password", "••••••", "-v"]
    assert [v.text for v in d.constraints] == ["node.labels.db_password==••••••", "node.role==worker"]
    assert d.preferences == ("spread node.labels.zone",) and d.max_replicas_per_node == 2
    assert d.limits == (("memory", "256 MiB"),) and d.reservations == (("cpus", "0.25"),)
    assert d.restart_policy == (("condition", "on-failure"), ("max attempts", "3"))
    assert d.update_config == (
        ("parallelism", "2"),
        ("delay", "5s"),
        ("on failure", "rollback"),
        ("order", "start-first"),
    )
    assert d.rollback_config == (("parallelism", "1"),)
    assert (d.image, d.update_started, d.service.replicas) == ("api:2@sha256:abc", "2026-11-30T11:00:00Z", 3)


def test_update_progress_counts_tasks_running_since_the_update_began() -> None:
    s = service("s1", replicas=3)
    new = dataclasses.replace(task("n", "s1", "a"), created_at="2026-11-30T11:00:01Z")
    old = dataclasses.replace(task("o", "s1", "a", slot=2), created_at="2026-11-30T09:00:00Z")
    assert update_progress(s, [new, old], "2026-11-30T11:00:00Z") == (1, 3)


def test_timestamps_compare_as_time_whatever_their_fraction() -> None:
    stamps = [
        "2026-11-30T11:00:00.5Z",
        "2026-11-30T11:00:00.123456789Z",
        "2026-11-30T11:00:00Z",
        "2026-11-30T11:00:00.12Z",
    ]
    assert sorted(stamps, key=sort_key) == [stamps[2], stamps[3], stamps[1], stamps[0]]


def test_lines_wait_their_window_then_leave_in_timestamp_order() -> None:
    heap = Reorder(window=1.0, max_held=100)
    heap.push("2026-11-30T11:00:02.000000000Z", ["b"], arrived=10.0)
    heap.push("2026-11-30T11:00:03.000000000Z", ["c"], arrived=10.1)
    assert heap.ready(10.5) == []  # nothing has waited its window yet
    heap.push("2026-11-30T11:00:01.000000000Z", ["a"], arrived=10.6)  # another node's, a little late
    assert heap.ready(11.2) == []  # the earliest (a) has not waited its window: b and c wait behind it
    assert heap.ready(11.7) == [["a"], ["b"], ["c"]]
    heap.push("2026-11-30T11:00:00.000000000Z", ["late"], arrived=20.0)
    assert heap.ready(21.0) == [["late"]]  # later than the window: out when it comes


def test_the_held_lines_are_bounded() -> None:
    heap = Reorder(window=60.0, max_held=3)
    for i in range(5):
        heap.push(f"2026-11-30T11:00:0{i}.000000000Z", [i], arrived=0.0)
    assert heap.ready(1.0) == [[0], [1]] and len(heap) == 3


def test_a_services_log_tasks_are_its_newest_with_a_container_named_name_slot_at_node() -> None:
    tasks = [dataclasses.replace(task(f"t{i}", "s1", "a", slot=i), container_id=f"c{i}" if i != 2 else "",
                                 created_at=f"2026-11-30T11:00:0{i}Z") for i in range(1, 5)]  # fmt: skip
    model = Snapshot.build(seq=1, status=Status(state="live"), nodes=[node("a")], services=[service("s1")], tasks=tasks)
    chosen = log_tasks(model, "s1", limit=2)
    assert [t.id for t in chosen] == ["t4", "t3"]
    assert prefix(model, chosen[0]) == "svc-s1.4@host-a"
    assert prefix(model, dataclasses.replace(chosen[0], slot=None)) == "svc-s1@host-a"


def test_the_matrix_at_500_nodes_and_500_services_is_small() -> None:
    nodes = [node(f"n{i:03d}") for i in range(500)]
    services = [dataclasses.replace(service(f"s{i:03d}", replicas=40), stack=f"st{i % 20}") for i in range(500)]
    tasks = [task(f"t{i:05d}", f"s{i % 500:03d}", f"n{(i * 7) % 500:03d}", slot=i // 500 + 1) for i in range(20000)]
    model = Snapshot.build(seq=1, status=Status(state="live"), nodes=nodes, services=services, tasks=tasks)
    built = matrix.build(model, now=NOW, window=timedelta(minutes=15))
    html = matrix_render.table(built, services_url="/services/", nodes_url="/nodes/")
    # a bare <td> per empty cell made 2.4 MB, sent again to every page open on it at each change
    assert html.count('data-node-id="n') == 500 + 500 and len(html) < 400_000
