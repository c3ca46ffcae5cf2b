"""The operator's pages over a fixed model: signed-in users only, hostile names as text, the live part
alone on request, the problems as JSON for the grid and their count in the bar."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from dashboard import access
from dashboard.core.domain import parse_service
from dashboard.core.model import Snapshot, Status
from dashboard.pages import services
from tests.unit.fakedocker import node, service, task

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-password-1234"
HOSTILE = '<img src=x onerror="alert(1)">'
PAGES = ("/services/", "/services/s1/", "/services/s1/logs.txt", "/nodes/", "/nodes/n1/", "/problems/", "/api/problems")


@pytest.fixture
def model(static_model: Any) -> Any:
    web = dataclasses.replace(service("s1", replicas=2), name=HOSTILE, stack="shop")
    static_model.snapshot = Snapshot.build(
        seq=7,
        status=Status(state="live", since="2026-01-01T00:00:00Z"),
        nodes=[dataclasses.replace(node("n1"), hostname=HOSTILE), node("n2", availability="drain")],
        services=[web],
        tasks=[task("t1", "s1", "n1")],
    )
    return static_model


def signed_in() -> Client:
    user = get_user_model().objects.create_user(username="vi", password=PASSWORD)
    access.set_role(user, "viewer")
    client = Client()
    client.force_login(user)
    return client


def refused(response: Any) -> bool:
    return response.status_code == 302 and "login" in response["Location"]


def test_kiosk_screens_and_anonymous_viewers_reach_none_of_them(model: Any) -> None:
    _, clear = access.create_token("hall", created_by="root")
    kiosk = Client()
    kiosk.get(f"/?kiosk={clear}")
    grid = kiosk.get("/")
    assert grid.status_code == 200 and b'href="/services/"' not in grid.content
    with override_settings(ANONYMOUS_READ_ONLY=True):
        for path in PAGES:
            assert refused(kiosk.get(path)), path
            assert refused(Client().get(path)), path


def test_the_matrix_shows_hostile_names_as_text_and_its_live_part_alone(model: Any) -> None:
    client = signed_in()
    page = client.get("/services/").content.decode()
    assert HOSTILE not in page and "&lt;img src=x" in page
    assert 'aria-current="page">services</a>' in page
    assert '<tbody data-stack="shop">' in page and 'data-node-id="n1" data-running="1"' in page
    assert '<form class="filter" role="search" action="/services/"' in page  # the matrix filters itself
    narrowed = client.get("/services/?q=stack:nope").content.decode()
    assert "0 of 1 services match the filter" in narrowed and "data-service-id" not in narrowed
    live = client.get("/services/?fragment=live")
    assert live["Cache-Control"] == "no-store"
    text = live.content.decode()
    assert text.lstrip().startswith('<div id="live" data-seq="7">') and "<html" not in text


def test_problems_come_as_a_page_as_json_and_as_a_count_in_the_bar(model: Any) -> None:
    client = signed_in()
    data = client.get("/api/problems").json()
    assert data["seq"] == 7 and data["total"] == 2
    assert [(p["kind"], p["url"]) for p in data["problems"]] == [
        ("node-drained", "/nodes/n2/"),
        ("short", "/services/s1/"),
    ]
    page = client.get("/problems/").content.decode()
    assert 'data-kind="short"' in page and "1 of 2 tasks running" in page and HOSTILE not in page
    grid = client.get("/").content.decode()
    assert 'data-problems="2">(2)</span>' in grid


def test_a_node_page_lists_its_tasks_and_an_unknown_node_is_not_found(model: Any) -> None:
    client = signed_in()
    page = client.get("/nodes/n1/").content.decode()
    assert 'data-task-id="t1"' in page and HOSTILE not in page
    assert client.get("/nodes/nope/").status_code == 404
    assert client.get("/nodes/n1/?fragment=live").content.decode().lstrip().startswith('<div id="live"')


def test_a_services_live_part_shows_its_update_and_progress_from_the_model_alone(model: Any) -> None:
    snapshot = model.snapshot
    updating = dataclasses.replace(snapshot.services["s1"], update_state="rollback_started", update_message="boom")
    model.snapshot = Snapshot.build(
        seq=8, status=snapshot.status, nodes=snapshot.nodes, services=[updating], tasks=snapshot.tasks
    )
    # no Docker behind this model: the live part must not ask it
    text = signed_in().get("/services/s1/?fragment=live").content.decode()
    assert 'data-update-state="rollback_started"' in text and "0 of 2 tasks updated" in text and "boom" in text
    assert 'data-task-id="t1"' in text and HOSTILE not in text


def test_an_updates_progress_counts_from_the_models_start_in_any_process(model: Any) -> None:
    # the start comes with the model (UpdateStatus.StartedAt), not from a page this process served before
    snapshot = model.snapshot
    updating = dataclasses.replace(
        snapshot.services["s1"], update_state="updating", update_started_at="2026-11-30T11:00:00Z"
    )
    fresh = dataclasses.replace(snapshot.tasks["t1"], created_at="2026-11-30T11:00:05Z")
    model.snapshot = Snapshot.build(
        seq=9, status=snapshot.status, nodes=snapshot.nodes, services=[updating], tasks=[fresh]
    )
    text = signed_in().get("/services/s1/?fragment=live").content.decode()
    assert "1 of 2 tasks updated" in text
    raw = {
        "ID": "s1",
        "Spec": {"Name": "web"},
        "UpdateStatus": {"State": "updating", "StartedAt": "2026-11-30T11:00:00Z"},
    }
    assert parse_service(raw).update_started_at == "2026-11-30T11:00:00Z"


def test_the_live_matrix_is_drawn_once_per_model_and_query_and_sent_compressed(model: Any) -> None:
    client = signed_in()
    fragment = client.get("/services/?fragment=live", HTTP_ACCEPT_ENCODING="gzip")
    assert fragment["Content-Encoding"] == "gzip"  # fetched again on every change by every open page
    whole = client.get("/services/", HTTP_ACCEPT_ENCODING="gzip")
    assert not whole.has_header("Content-Encoding")  # the whole page has the CSRF token: BREACH
    assert "csrfmiddlewaretoken" in whole.content.decode()
    snapshot = model.snapshot
    assert services.drawn_matrix(snapshot, "stack:shop") is services.drawn_matrix(snapshot, "stack:shop")


def test_a_service_the_live_model_does_not_list_is_not_found_without_asking_docker(model: Any) -> None:
    # no Docker behind this model (its endpoint does not exist): a request to it would answer 502/503
    assert signed_in().get("/services/nope/").status_code == 404
