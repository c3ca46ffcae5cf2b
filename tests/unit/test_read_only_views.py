"""What read-only screens and filtered walls are sent (dashboard.live.views): only what is drawn,
only what the filter selects, and a patch stream that rebuilds exactly that, seq after seq."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.core.domain import Node, SecretRef, Service, Task
from dashboard.core.model import Patch, Snapshot, Status, advance
from dashboard.live import views
from dashboard.live.hub import Hub
from dashboard.live.views import View
from dashboard.live.wire import snapshot_json
from tests.unit.strategies import nodes, statuses

BASIC_AUTH = "admin:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
SECRET_NAME = "db_root_password_v3"
ADDRESS = "10.77.0.5"
KIOSK = View(read_only=True, labels=False, addresses=False)


def node(node_id: str, **kw: Any) -> Node:
    base = Node(node_id, f"host-{node_id}", "worker", False, "", "ready", "", ADDRESS, "active", "27.0", "linux/x86_64",
                2.0, 2**31, (("rack", "r7"),))  # fmt: skip
    return dataclasses.replace(base, **kw)


def service(service_id: str, name: str, stack: str = "", **kw: Any) -> Service:
    labels = (("com.docker.stack.namespace", stack), ("traefik.http.middlewares.auth.basicauth.users", BASIC_AUTH))
    base = Service(service_id, name, stack, "img:1", "replicated", 1, 1, 1, "", "", labels, (), "", "",
                   secrets=(SecretRef("sec1", SECRET_NAME, SECRET_NAME),))  # fmt: skip
    return dataclasses.replace(base, **kw)


def task(task_id: str, service_id: str, node_id: str, state: str = "running") -> Task:
    return Task(task_id, service_id, 1, node_id, "running", state, "", "", None, "c0ffee", "img:1", "", "", "", "")


def snap(seq: int, ns: list[Node], ss: list[Service], ts: list[Task]) -> Snapshot:
    return Snapshot.build(seq=seq, status=Status(state="live"), nodes=ns, services=ss, tasks=ts)


def sent(snapshot: Snapshot, view: View) -> str:
    """Everything a socket of this view is sent of the model, as one text."""
    nodes_, services_, tasks_ = views.snapshot_parts(snapshot, snapshot_json(snapshot, with_tasks=False), view)
    return json.dumps([nodes_, services_]) + "".join(tasks_)


def test_it_sends_a_read_only_screen_no_label_no_address_no_secret_name() -> None:
    s = snap(1, [node("n1")], [service("s1", "web", "shop")], [task("t1", "s1", "n1")])
    for text in (sent(s, KIOSK), *(t for _, t in patch_texts(Snapshot(), s, KIOSK))):
        assert BASIC_AUTH.split("$")[-1] not in text and "basicauth" not in text
        assert ADDRESS not in text and SECRET_NAME not in text and "r7" not in text
        assert "c0ffee" not in text  # a container id is not drawn either
        assert "host-n1" in text and '"web"' in text and '"t1"' in text  # what the grid and wall draw
    # the whole model, as a signed-in user's socket gets it, has them all
    whole = json.dumps(snapshot_json(s))
    assert all(x in whole for x in ("basicauth", ADDRESS, SECRET_NAME))


def test_it_sends_labels_and_addresses_when_an_admin_allows_them() -> None:
    s = snap(1, [node("n1")], [service("s1", "web", "shop")], [task("t1", "s1", "n1")])
    text = sent(s, View(read_only=True, labels=True, addresses=True))
    assert "basicauth" in text and ADDRESS in text and "r7" in text
    assert SECRET_NAME not in text  # nothing draws a service's secrets
    assert "basicauth" not in sent(s, View(read_only=True, labels=False, addresses=True))


def test_it_renders_a_read_only_first_paint_without_labels() -> None:
    s = snap(1, [node("n1")], [service("s1", "web", "shop")], [task("t1", "s1", "n1")])
    assert views.page_snapshot(s, KIOSK).services["s1"].labels == ()
    assert views.page_snapshot(s, None) is s


def test_it_reads_the_wall_filter_and_refuses_what_no_wall_means() -> None:
    assert views.parse_filter({"stack": ["a,b", " c "], "service": ["x"]}) == (
        frozenset({"a", "b", "c"}),
        frozenset({"x"}),
    )
    assert views.parse_filter({"stack": [","]}) == (None, None)
    with pytest.raises(ValueError, match="at most 100"):
        views.parse_filter({"service": [",".join(str(i) for i in range(101))]})
    with pytest.raises(ValueError, match="characters"):
        views.parse_filter({"stack": ["x" * 300]})
    assert views.view_for(False, {}, labels=False, addresses=False) is None  # a signed-in user: the whole model
    signed_in = views.view_for(False, {"stack": ["a"]}, labels=False, addresses=False)
    assert signed_in == View(read_only=False, stacks=frozenset({"a"}))


def test_it_sends_a_filtered_wall_only_its_services_tasks_and_the_nodes_holding_them() -> None:
    s = snap(
        1,
        [node("n1"), node("n2"), node("n3")],
        [service("s1", "shop_web", "shop"), service("s2", "other_db", "other")],
        [task("t1", "s1", "n1"), task("t2", "s2", "n2"), task("t3", "s2", "n1")],
    )
    view = View(read_only=True, labels=False, addresses=False, stacks=frozenset({"shop"}))
    nodes_, services_, tasks_ = views.snapshot_parts(s, snapshot_json(s, with_tasks=False), view)
    assert [n["id"] for n in nodes_] == ["n1"]
    assert [x["name"] for x in services_] == ["shop_web"]
    assert [json.loads(t)["id"] for t in tasks_] == ["t1"]
    assert "other_db" not in sent(s, view) and "host-n2" not in sent(s, view)
    by_name = View(read_only=False, services=frozenset({"other_db"}))
    assert {json.loads(t)["id"] for t in views.snapshot_parts(s, snapshot_json(s), by_name)[2]} == {"t2", "t3"}


# --- the patch stream ---------------------------------------------------------------------------------


class FakeWatcher:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.epoch = 0


def patch_texts(old: Snapshot, new: Snapshot, view: View) -> list[tuple[str, str]]:
    new, patch = advance(old, dataclasses.replace(new, seq=old.seq))
    assert patch is not None
    hub = Hub(FakeWatcher(old), "swarm")  # type: ignore[arg-type]
    hub.acquire(view)
    return hub.texts(new, patch)


class Page:
    """A page's model as static/dashboard/live.js keeps it: the model, then patches in seq order."""

    def __init__(self, snapshot: Snapshot, view: View) -> None:
        parts = views.snapshot_parts(snapshot, snapshot_json(snapshot, with_tasks=False), view)
        nodes_, services_ = json.loads(json.dumps(parts[:2]))  # as the socket sends them
        tasks_ = parts[2]
        self.seq = snapshot.seq
        self.kinds: dict[str, dict[str, Any]] = {
            "nodes": {n["id"]: n for n in nodes_},
            "services": {s["id"]: uncounted(s) for s in services_},
            "tasks": {t["id"]: t for t in map(json.loads, tasks_)},
        }

    def apply(self, text: str) -> None:
        p = json.loads(text)
        assert p["type"] == "patch"
        assert p["base_seq"] == self.seq, "a gap: the page would ask for the whole model"
        for kind, items in self.kinds.items():
            for item_id in p[kind]["removed"]:
                assert item_id in items, f"{kind} {item_id} removed but never sent"
                del items[item_id]
            for item in p[kind]["upsert"]:
                items[item["id"]] = uncounted(item)
        assert not {"secrets", "configs"} & set(p)
        self.seq = p["seq"]


def uncounted(service: dict[str, Any]) -> dict[str, Any]:
    # the model carries each service's running/desired counts; a page counts them from its tasks
    return {k: v for k, v in service.items() if k not in ("running", "desired")}


def assert_same(page: Page, snapshot: Snapshot, view: View) -> None:
    want = Page(snapshot, view)
    assert page.seq == want.seq
    for kind in page.kinds:
        assert page.kinds[kind] == want.kinds[kind], kind


def stream(view: View, models: list[Snapshot]) -> None:
    """Every model after the first as the watcher would publish it; the page that got the first
    and every projected patch must hold exactly what a page connecting now would get."""
    current = dataclasses.replace(models[0], seq=1)
    hub = Hub(FakeWatcher(current), "swarm")  # type: ignore[arg-type]
    group = hub.acquire(view)
    page = Page(current, view)
    for model in models[1:]:
        new, patch = advance(current, dataclasses.replace(model, seq=current.seq))
        if patch is None:
            continue
        texts = dict(hub.texts(new, patch))
        page.apply(texts[group])  # one per patch, even when empty for this view: no seq gap
        current = new
        assert_same(page, current, view)


SHOP = View(read_only=True, labels=False, addresses=False, stacks=frozenset({"shop"}))


def test_it_follows_a_task_a_service_and_a_node_into_and_out_of_the_filter() -> None:
    ns = [node("n1"), node("n2")]
    web, db = service("s1", "shop_web", "shop"), service("s2", "db", "other")
    t1, t2 = task("t1", "s1", "n1"), task("t2", "s2", "n2")
    models = [
        snap(0, ns, [web, db], [t1, t2]),
        snap(0, ns, [web, db], [t1, t2, task("t3", "s1", "n2")]),  # n2 now holds a shop task: it comes
        snap(0, ns, [web, db], [t1, t2]),  # and goes with its last one
        snap(0, ns, [web, dataclasses.replace(db, stack="shop")], [t1, t2]),  # db joins the stack: its tasks come
        snap(0, ns, [web, db], [t1, t2]),  # and leave
        snap(0, ns, [web, db], [t1, dataclasses.replace(t2, state="failed")]),  # nothing for the wall: an empty patch
        snap(0, [ns[0], dataclasses.replace(ns[1], state="down")], [web, db], [t1, t2]),  # a node it does not show
        snap(0, [dataclasses.replace(ns[0], availability="drain"), ns[1]], [web, db], [t1, t2]),
        snap(0, ns, [web], [t1]),  # a service it never showed is removed
        snap(0, ns, [], []),
    ]
    stream(SHOP, models)
    stream(KIOSK, models)
    stream(View(read_only=False, services=frozenset({"db", "s1"})), models)


def test_it_sends_an_empty_patch_with_its_seq_when_nothing_in_the_filter_changed() -> None:
    ns = [node("n1")]
    before = snap(0, ns, [service("s2", "db", "other")], [task("t2", "s2", "n1")])
    after = snap(0, ns, [service("s2", "db", "other")], [task("t2", "s2", "n1", "failed")])
    [(group, text)] = patch_texts(before, after, SHOP)
    assert group == views.group_of("swarm", SHOP)
    empty: dict[str, list[Any]] = {"upsert": [], "removed": []}
    assert json.loads(text) == {"type": "patch", "epoch": 0, "base_seq": 0, "seq": 1, "nodes": empty, "services": empty,
                                "tasks": empty}  # fmt: skip


def test_it_sends_nothing_for_a_patch_out_of_order_so_that_pages_resync() -> None:
    a = snap(1, [node("n1")], [], [])
    b = snap(0, [node("n1"), node("n2")], [], [])
    hub = Hub(FakeWatcher(a), "swarm")  # type: ignore[arg-type]
    hub.acquire(SHOP)
    stray = Patch(base_seq=5, seq=6)
    assert hub.texts(dataclasses.replace(b, seq=6), stray) == []
    new, patch = advance(hub.last, dataclasses.replace(a, seq=6))
    assert patch is not None and [json.loads(t)["base_seq"] for _, t in hub.texts(new, patch)] == [6]


def test_it_keeps_a_view_while_a_socket_uses_it_and_projects_each_patch_once_per_view() -> None:
    before = snap(1, [node("n1")], [service("s1", "web", "shop")], [])
    hub = Hub(FakeWatcher(before), "swarm")  # type: ignore[arg-type]
    assert hub.acquire(SHOP) == hub.acquire(SHOP) != hub.acquire(KIOSK)
    new, patch = advance(before, snap(1, [node("n1")], [service("s1", "web", "shop")], [task("t1", "s1", "n1")]))
    assert patch is not None
    assert sorted(g for g, _ in hub.texts(new, patch)) == sorted(views.group_of("swarm", v) for v in (SHOP, KIOSK))
    hub.release(SHOP)
    hub.release(KIOSK)
    assert set(hub.users) == {SHOP}
    hub.release(SHOP)
    assert not hub.users and not hub.held


# any sequence of models, under any of a few filters: the page ends where a new page would start
few = st.sampled_from(["a", "b", "c"])
services_ = st.builds(
    Service, id=few, name=st.sampled_from(["web", "db", "a_api"]), stack=st.sampled_from(["", "shop", "ops"]),
    image=st.just("img"), mode=st.just("replicated"), replicas=st.integers(0, 3), running_tasks=st.none(),
    desired_tasks=st.none(), update_state=st.just(""), update_message=st.just(""), labels=st.just((("k", "v"),)),
    ports=st.just(()), created_at=st.just(""), updated_at=st.sampled_from(["1", "2"]),
)  # fmt: skip
tasks_ = st.builds(
    Task, id=st.sampled_from([f"t{i}" for i in range(8)]), service_id=few | st.just("z"), slot=st.just(1),
    node_id=st.sampled_from(["id0", "id1", "id2", ""]), desired_state=st.sampled_from(["running", "shutdown"]),
    state=st.sampled_from(["running", "failed", "shutdown"]), message=st.just(""), error=st.just(""),
    exit_code=st.none(), container_id=st.just(""), image=st.just("img"), created_at=st.just(""),
    updated_at=st.sampled_from(["1", "2"]), status_at=st.just(""), health=st.just(""),
)  # fmt: skip
models_ = st.builds(
    lambda status, ns, ss, ts: Snapshot.build(seq=0, status=status, nodes=ns, services=ss, tasks=ts),
    statuses,
    st.lists(nodes.map(lambda n: dataclasses.replace(n, id=f"id{int(n.id[2:]) % 3}")), max_size=3),
    st.lists(services_, max_size=3),
    st.lists(tasks_, max_size=8),
)
filters = st.sampled_from(
    [
        KIOSK,
        SHOP,
        View(read_only=True, labels=True, addresses=True, services=frozenset({"db", "a"})),
        View(read_only=False, stacks=frozenset({"ops", ""}), services=frozenset({"web"})),
    ]
)


@settings(max_examples=300, deadline=None)
@given(filters, st.lists(models_, min_size=2, max_size=6))
def test_it_rebuilds_on_the_page_what_a_new_page_would_get_after_any_changes(
    view: View, models: list[Snapshot]
) -> None:
    stream(view, models)


def test_it_tells_read_only_screens_that_docker_is_lost_not_where_it_is() -> None:
    reason = "cannot reach Docker at tcp://10.9.8.7:2376: Connection refused; is the daemon listening there?"
    live = snap(1, [node("n1")], [service("s1", "web", "shop")], [])
    lost = dataclasses.replace(live, status=Status(state="reconnecting", reason=reason, kind="unreachable"))
    signed_in_wall = View(read_only=False, stacks=frozenset({"shop"}))
    for view in (KIOSK, SHOP, signed_in_wall):
        [(_, text)] = patch_texts(live, lost, view)
        status = json.loads(text)["status"]
        assert status["state"] == "reconnecting" and status["kind"] == "unreachable"
        if view.read_only:
            assert status["reason"] == "the dashboard cannot reach Docker" and "10.9.8.7" not in text
        else:
            assert status["reason"] == reason
    assert views.status_for(lost.status, None)["reason"] == reason  # a signed-in user's whole model
    odd = Status(state="error", reason="at /etc/docker/certs: something new", kind="brand_new")
    assert views.status_for(odd, KIOSK)["reason"] == "the dashboard has lost Docker"
    assert views.status_for(Status(state="connecting"), KIOSK)["reason"] == ""
