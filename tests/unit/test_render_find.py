"""The grid's first paint (dashboard.pages.render) under a filter and in bands: what a ?q= or
?group= link shows before the page's script runs."""

from __future__ import annotations

import re
from datetime import timedelta

from dashboard.core.domain import Node, Service, Task
from dashboard.core.model import Snapshot, Status
from dashboard.pages import query, render


def node(id: str, hostname: str, *, role: str = "worker", **labels: str) -> Node:
    return Node(id, hostname, role, False, "", "ready", "", "", "active", "27.0", "linux/x86_64", 2, 2**30,
                tuple(sorted(labels.items())))  # fmt: skip


def service(id: str, name: str, stack: str = "") -> Service:
    return Service(id, name, stack, "web:1", "replicated", 1, 1, 1, "", "", (), (), "", "")


def task(id: str, service_id: str, node_id: str, slot: int, state: str = "running") -> Task:
    return Task(id, service_id, slot, node_id, "running", state, "", "", None, "", "web:1", "", "", "", "")


SNAPSHOT = Snapshot.build(
    seq=1,
    status=Status(),
    nodes=[node("n1", "mgr", role="manager"), node("n2", "b-worker", zone="z-b"), node("n3", "a-worker", zone="z-a")],
    services=[service("s1", "shop_web", "shop"), service("s2", "shop_db", "shop"), service("s3", "<b>tool</b>")],
    tasks=[
        task("t1", "s1", "n1", 1),
        task("t2", "s1", "n2", 2),
        task("t3", "s2", "n3", 1),
        task("t4", "s3", "", 1, "pending"),
    ],
)
WINDOW = timedelta(minutes=10)


def order(html: str) -> list[str]:
    return re.findall(r'<(?:section class="node[^"]*"|h2 class="band") data-(?:node-id|band)="([^"]*)"', html)


def test_it_marks_each_box_as_the_filter_finds_it_and_counts_them() -> None:
    match = query.for_snapshot(SNAPSHOT, "stack:shop -node:b-worker")
    assert match is not None
    html = render.grid(SNAPSHOT, failed_window=WINDOW, match=match)
    marks = dict(re.findall(r'data-task-id="([^"]+)" data-match="(true|false)"', html))
    assert marks == {"t1": "true", "t2": "false", "t3": "true", "t4": "false"}
    assert render.match_counts(SNAPSHOT, match, failed_window=WINDOW) == (2, 4)
    assert query.for_snapshot(SNAPSHOT, "   ") is None


def test_it_puts_the_unassigned_tasks_after_every_node_and_one_box_in_the_tab_order() -> None:
    html = render.grid(SNAPSHOT, failed_window=WINDOW)
    assert order(html) == ["n1", "n3", "n2", ""]
    assert re.findall(r'tabindex="0" data-task-id="([^"]+)"', html) == ["t1"]


def test_it_bands_the_nodes_by_a_label_the_nodes_without_it_last() -> None:
    html = render.grid(SNAPSHOT, failed_window=WINDOW, group="zone")
    assert order(html) == ["z-a", "n3", "z-b", "n2", "", "n1", ""]
    assert re.findall(r'<h2 class="band"[^>]*>([^<]*)</h2>', html) == ["zone=z-a", "zone=z-b", "no zone"]
    hostile = render.grid(SNAPSHOT, failed_window=WINDOW, group="<i>", labels=lambda n: {"<i>": "<b>x</b>"})
    assert "<b>" not in hostile and "&lt;i&gt;=&lt;b&gt;x&lt;/b&gt;" in hostile


def test_the_legend_groups_services_by_stack_each_stack_a_filter_button() -> None:
    html = render.legend(SNAPSHOT)
    items = re.findall(r'<li class="(stack-item|svc-item)[^"]*" data-(?:stack|service-id)="([^"]*)"', html)
    assert items == [("svc-item", "s3"), ("stack-item", "shop"), ("svc-item", "s2"), ("svc-item", "s1")]
    assert 'data-q="stack:shop"' in html and "&lt;b&gt;tool" in html
    assert render.stack_query('a "b') == 'stack:"a "b"'
