"""Rotation names and label parsing."""

from __future__ import annotations

from typing import Any

from dashboard.pages.secrets import next_version_name, parse_labels


def test_it_names_the_next_version() -> None:
    assert next_version_name("db", set()) == "db.v2"
    assert next_version_name("db.v2", set()) == "db.v3"
    assert next_version_name("db.v9", {"db.v10"}) == "db.v11"
    assert next_version_name("api.key", set()) == "api.key.v2"


def test_it_reads_labels_one_per_line_and_refuses_junk() -> None:
    assert parse_labels("a=1\n\n  b=x=y \n") == ({"a": "1", "b": "x=y"}, "")
    labels, problem = parse_labels("team=core\nenv=<b>test</b>")
    assert (labels, problem) == ({"team": "core", "env": "<b>test</b>"}, "")
    _, problem = parse_labels("has space=1")
    assert "expected key=value" in problem


def test_a_value_of_exactly_docker_s_limit_is_refused_before_docker_is_asked(rf: Any) -> None:
    from django.conf import settings

    from dashboard.pages.secrets import read_value

    limit = settings.SECRET_MAX_BYTES
    assert read_value(rf.post("/secrets/create", {"value": "x" * (limit - 1)}))[0] is not None
    data, error = read_value(rf.post("/secrets/create", {"value": "x" * limit}))
    assert data is None and "not smaller than 500 KiB" in error
