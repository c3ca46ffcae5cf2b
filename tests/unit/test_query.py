"""dashboard.pages.query, the server's filter: the same answers as static/dashboard/filter.js
(tests/js/filter_cases.json), so that a ?q= link's first paint is what the page then shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.pages import query

CASES = json.loads((Path(__file__).resolve().parents[1] / "js" / "filter_cases.json").read_text())
SERVICES = {s["id"]: query.ServiceFacts(s["name"], s["stack"], s["labels"]) for s in CASES["services"]}
NODES = {n["id"]: query.NodeFacts(n["hostname"], n["labels"]) for n in CASES["nodes"]}
TASKS = [query.TaskFacts(**t) for t in CASES["tasks"]]


@pytest.mark.parametrize(("q", "want"), CASES["match"])
def test_it_matches_what_the_page_matches(q: str, want: list[str]) -> None:
    match = query.matcher(query.parse(q), SERVICES, NODES)
    assert [t.id for t in TASKS if match is None or match(t)] == want


@pytest.mark.parametrize(("q", "want"), CASES["parse"])
def test_it_reads_a_query_as_the_page_does(q: str, want: list[list[object]]) -> None:
    assert [[t.key, t.value, t.negate] for t in query.parse(q)] == want


def test_it_takes_at_most_max_terms_and_treats_a_pattern_as_text() -> None:
    assert len(query.parse("a " * 100)) == query.MAX_TERMS
    assert query.matcher(query.parse("service:.*"), SERVICES, NODES) is not None
    match = query.matcher(query.parse("service:(a+)+$"), SERVICES, NODES)
    assert match is not None and not any(match(t) for t in TASKS)
