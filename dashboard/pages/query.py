"""The filter (``?q=``) for the server's first paint: the same terms and the same answers as
static/dashboard/filter.js, which documents the language. tests/js/filter_cases.json holds the
cases both must agree on.

What a term looks at is passed in as plain facts (what the page has: labels masked, or none for a
screen not shown labels), so that the answer here is the page's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dashboard.core.domain import Task
from dashboard.core.model import Snapshot
from dashboard.live.wire import labels_json

MAX_QUERY_CHARS = 500  # as dashboard/pages/nav.py cuts q=
MAX_TERMS = 20
KEYS = frozenset({"service", "stack", "node", "state", "label", "image"})
_TERM = re.compile(r'(-?)(?:([a-z]+):)?(?:"([^"]*)"?|(\S*))', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Term:
    key: str  # one of KEYS, or "" for free text
    value: str
    negate: bool


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    name: str
    stack: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    hostname: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskFacts:
    id: str
    service_id: str
    node_id: str
    state: str  # as the page shows it: "orphaned" for a task on a down node
    image: str
    error: str


def parse(text: str) -> list[Term]:
    terms: list[Term] = []
    src = text[:MAX_QUERY_CHARS]
    i = 0
    while i < len(src) and len(terms) < MAX_TERMS:
        if src[i].isspace():
            i += 1
            continue
        m = _TERM.match(src, i)
        if m is None or m.end() == i:
            break
        i = m.end()
        negate = m.group(1) == "-"
        key = (m.group(2) or "").lower()
        value = m.group(3) if m.group(3) is not None else m.group(4) or ""
        if key and key not in KEYS:
            terms.append(Term("", m.group(0)[1 if negate else 0 :], negate))
        elif value:
            terms.append(Term(key, value, negate))
    return terms


def glob(value: str) -> re.Pattern[str]:
    """A keyed term's value, to be matched whole (fullmatch): case-insensitive, * for any characters."""
    return re.compile(".*".join(re.escape(p) for p in value.split("*")), re.IGNORECASE | re.DOTALL)


def _image_names(image: str) -> tuple[str, str, str]:
    ref = image.split("@")[0]
    last = ref.rsplit("/", 1)[-1]
    return ref, last, last.split(":", 1)[0]


def _has_label(labels: Mapping[str, str] | None, spec: str) -> bool:
    if not labels:
        return False
    key, eq, value = spec.partition("=")
    want = glob(value) if eq else None
    return any(k.lower() == key.lower() and (want is None or want.fullmatch(v)) for k, v in labels.items())


Test = Callable[[TaskFacts, ServiceFacts | None, NodeFacts | None], bool]


def _compile(term: Term) -> Test:
    v = term.value
    g = glob(v)
    if term.key == "service":
        return lambda t, s, n: bool(g.fullmatch(s.name if s else "") or g.fullmatch(t.service_id))
    if term.key == "stack":
        return lambda t, s, n: bool(g.fullmatch(s.stack if s else ""))
    if term.key == "node":
        return lambda t, s, n: bool(g.fullmatch(n.hostname if n else "") or g.fullmatch(t.node_id))
    if term.key == "state":
        return lambda t, s, n: bool(g.fullmatch(t.state))
    if term.key == "label":
        return lambda t, s, n: _has_label(s.labels if s else None, v) or _has_label(n.labels if n else None, v)
    if term.key == "image":
        return lambda t, s, n: any(g.fullmatch(x) for x in _image_names(t.image))
    needle = v.lower()

    def free(t: TaskFacts, s: ServiceFacts | None, n: NodeFacts | None) -> bool:
        hay = (s.name if s else "", s.stack if s else "", n.hostname if n else "", t.image.split("@")[0], t.state)
        return any(needle in x.lower() for x in (*hay, t.id, t.error))

    return free


def matcher(
    terms: list[Term], services: Mapping[str, ServiceFacts], nodes: Mapping[str, NodeFacts]
) -> Callable[[TaskFacts], bool] | None:
    """Whether each task matches all the terms; None when there are none (every task matches)."""
    if not terms:
        return None
    tests = [(_compile(term), term.negate) for term in terms]

    def match(t: TaskFacts) -> bool:
        s = services.get(t.service_id)
        n = nodes.get(t.node_id)
        return all(test(t, s, n) != negate for test, negate in tests)

    return match


def for_snapshot(snapshot: Snapshot, text: str, *, labels: bool = True) -> Callable[[Task], bool] | None:
    """The query ``text`` over a snapshot's tasks, with the labels the page is sent (masked;
    ``labels`` False: none, as a screen not shown labels)."""
    terms = parse(text)
    if not terms:
        return None
    services = {
        k: ServiceFacts(s.name, s.stack, labels_json(s.labels) if labels else {}) for k, s in snapshot.services.items()
    }
    nodes = {k: NodeFacts(n.hostname, labels_json(n.labels) if labels else {}) for k, n in snapshot.nodes.items()}
    match = matcher(terms, services, nodes)
    if match is None:
        return None
    test = match

    def of_task(t: Task) -> bool:
        state = "orphaned" if t.orphaned else t.state
        return test(TaskFacts(t.id, t.service_id, t.node_id, state, t.image, t.error))

    return of_task
