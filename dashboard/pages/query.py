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
# the spaces between terms: these six, as filter.js says (str.isspace and JS's \s differ beyond them)
SPACES = " \t\n\r\f\v"
_TERM = re.compile(r'(-?)(?:([a-z]+):)?(?:"([^"]*)"?|([^ \t\n\r\f\v]*))', re.IGNORECASE)


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
        if src[i] in SPACES:
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


class Glob:
    """A keyed term's value, matched whole: case-insensitive, ``*`` for any characters. Linear in
    the text (no regular expression: ``a*a*a*…b`` must not backtrack): the parts between the stars
    are found in order, the first at the start and the last at the end."""

    __slots__ = ("_parts",)

    def __init__(self, value: str) -> None:
        self._parts = value.lower().split("*")  # runs of * give empty parts, which find at once

    def fullmatch(self, text: str) -> bool:
        s = text.lower()
        parts = self._parts
        if len(parts) == 1:
            return s == parts[0]
        first, last = parts[0], parts[-1]
        if len(s) < len(first) + len(last) or not s.startswith(first) or not s.endswith(last):
            return False
        i, end = len(first), len(s) - len(last)
        for part in parts[1:-1]:
            if part:
                at = s.find(part, i, end)
                if at < 0:
                    return False
                i = at + len(part)
        return True


def glob(value: str) -> Glob:
    return Glob(value)


def image_names(image: str) -> tuple[str, str, str]:
    ref = image.split("@")[0]
    last = ref.rsplit("/", 1)[-1]
    return ref, last, last.split(":", 1)[0]


def has_label(labels: Mapping[str, str] | None, spec: str) -> bool:
    if not labels:
        return False
    key, eq, value = spec.partition("=")
    want = glob(value) if eq else None
    return any(k.lower() == key.lower() and (want is None or want.fullmatch(v)) for k, v in labels.items())


Test = Callable[[TaskFacts, ServiceFacts | None, NodeFacts | None], bool]


def _remembered(test: Callable[[str], bool]) -> Callable[[str], bool]:
    """A test remembered by the key it depends on, as filter.js remembers it: 20,000 tasks share a
    few hundred services, nodes, images and states."""
    seen: dict[str, bool] = {}

    def once(key: str) -> bool:
        hit = seen.get(key)
        if hit is None:
            hit = seen[key] = test(key)
        return hit

    return once


def _compile(term: Term, services: Mapping[str, ServiceFacts], nodes: Mapping[str, NodeFacts]) -> Test:
    v = term.value
    g = glob(v)

    if term.key == "service":
        by_service = _remembered(lambda i: g.fullmatch(s.name if (s := services.get(i)) else "") or g.fullmatch(i))
        return lambda t, s, n: by_service(t.service_id)
    if term.key == "stack":
        by_stack = _remembered(lambda i: g.fullmatch(s.stack if (s := services.get(i)) else ""))
        return lambda t, s, n: by_stack(t.service_id)
    if term.key == "node":
        by_node = _remembered(lambda i: g.fullmatch(n.hostname if (n := nodes.get(i)) else "") or g.fullmatch(i))
        return lambda t, s, n: by_node(t.node_id)
    if term.key == "state":
        by_state = _remembered(g.fullmatch)
        return lambda t, s, n: by_state(t.state)
    if term.key == "label":
        svc_label = _remembered(lambda i: has_label(s.labels if (s := services.get(i)) else None, v))
        node_label = _remembered(lambda i: has_label(n.labels if (n := nodes.get(i)) else None, v))
        return lambda t, s, n: svc_label(t.service_id) or node_label(t.node_id)
    if term.key == "image":
        by_image = _remembered(lambda image: any(g.fullmatch(x) for x in image_names(image)))
        return lambda t, s, n: by_image(t.image)
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
    tests = [(_compile(term, services, nodes), term.negate) for term in terms]

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
