"""dashboard.pages.query, the server's filter: the same answers as static/dashboard/filter.js
(tests/js/filter_cases.json), so that a ?q= link's first paint is what the page then shows."""

from __future__ import annotations

import json
import time
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


def test_a_hostile_glob_takes_linear_time() -> None:
    # a regular expression of `service:**********!` took 0.7 s per 25-character id (the grid view
    # is async: the whole process stalled); the glob is linear in the id
    hostile = CASES["hostile"]
    ident = hostile["id"]
    services = {
        f"{ident}{i}": query.ServiceFacts(f"{ident}{i}", ident, {"zone": ident}) for i in range(hostile["services"])
    }
    nodes = {ident: query.NodeFacts(ident, {"zone": ident})}
    tasks = [query.TaskFacts(f"t{i}", sid, ident, "running", ident, "") for i, sid in enumerate(services)]
    t0 = time.perf_counter()
    for q in hostile["queries"]:
        match = query.matcher(query.parse(q), services, nodes)
        assert match is not None and not any(match(t) for t in tasks)
    elapsed_ms = (time.perf_counter() - t0) * 1000
    assert elapsed_ms < hostile["bound_ms"], f"{elapsed_ms:.0f} ms for {len(hostile['queries'])} hostile queries"


def test_a_glob_matches_its_parts_in_order_and_whole() -> None:
    g = query.glob("a*b*c")
    assert g.fullmatch("abc") and g.fullmatch("AxxBxxC") and g.fullmatch("abcabc")
    assert not g.fullmatch("acb") and not g.fullmatch("ab") and not g.fullmatch("abcd")
    assert query.glob("ab*ba").fullmatch("aba") is False  # the first and last parts may not overlap
    assert query.glob("**").fullmatch("") and query.glob("").fullmatch("") and not query.glob("").fullmatch("x")
