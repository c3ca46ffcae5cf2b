"""The services x nodes matrix under the bar's filter (``?q=``): the grid's language and answers
(dashboard.pages.query: the same terms, quotes, globs and negation), read over the matrix's
rows (services) and columns (nodes) instead of over tasks.

A term looks at a service (``service:``, ``stack:``, ``image:``), at a node (``node:``), or at
either (``label:``, free text: as on the grid, a task matches when its service or its node does);
``state:`` is the grid's alone (a cell counts every state), so it leaves the matrix as it is.
A cell (a service's tasks on a node) matches when every term holds of its service or its node; a
row is kept when the service matches on its own or one of its cells does, so ``node:worker-1``
keeps the services with tasks there. Columns are kept by the terms that only a node can answer
(``node:`` and the negated terms), so that a service's other nodes stay in view.
"""

from __future__ import annotations

from collections.abc import Callable

from dashboard.core.domain import Node, Service
from dashboard.core.matrix import Matrix, Row, Stack
from dashboard.live.wire import labels_json
from dashboard.pages.query import Term, glob, has_label, image_names, parse

Side = Callable[[str], bool]  # a term's answer for a service's or a node's id


def _never(_: str) -> bool:
    return False


def _sides(term: Term, services: dict[str, Service], nodes: dict[str, Node]) -> tuple[Side, Side]:
    """(of a service, of a node): what the term says of each, by id."""
    g, v = glob(term.value), term.value
    if term.key == "service":
        return (lambda i: g.fullmatch(services[i].name) or g.fullmatch(i)), _never
    if term.key == "stack":
        return (lambda i: g.fullmatch(services[i].stack)), _never
    if term.key == "image":
        return (lambda i: any(g.fullmatch(x) for x in image_names(services[i].image))), _never
    if term.key == "node":
        return _never, (lambda i: g.fullmatch(nodes[i].hostname) or g.fullmatch(i))
    if term.key == "label":
        return (lambda i: has_label(labels_json(services[i].labels), v)), (
            lambda i: has_label(labels_json(nodes[i].labels), v)
        )
    needle = v.lower()
    return (lambda i: any(needle in x.lower() for x in (services[i].name, services[i].stack, services[i].image))), (
        lambda i: needle in nodes[i].hostname.lower()
    )


def narrow(m: Matrix, query: str) -> Matrix:
    """The matrix with the rows and columns ``query`` keeps (all of it for a query of no terms)."""
    terms = [t for t in parse(query) if t.key != "state"]
    if not terms:
        return m
    services = {r.service.id: r.service for s in m.stacks for r in s.rows}
    nodes = {n.id: n for n in m.nodes}
    sides = [(*_sides(t, services, nodes), t.negate, t.key) for t in terms]
    by_service = [{i: bool(of_s(i)) for i in services} for of_s, _, _, _ in sides]
    by_node = [{i: bool(of_n(i)) for i in nodes} for _, of_n, _, _ in sides]

    def column(i: str) -> bool:  # node: terms, and what a negated term rules out of a node
        return all(by_node[k][i] != negate for k, (_, _, negate, key) in enumerate(sides) if negate or key == "node")

    def cell(s: str, n: str | None) -> bool:
        return all(
            (by_service[k][s] or (n is not None and by_node[k][n])) != negate
            for k, (_, _, negate, _) in enumerate(sides)
        )

    keep = [i for i, n in enumerate(m.nodes) if column(n.id)]
    moved = {old: new for new, old in enumerate(keep)}
    stacks = []
    for stack in m.stacks:
        kept = tuple(
            Row(r.service, r.running, r.desired, tuple((moved[i], c) for i, c in r.cells if i in moved))
            for r in stack.rows
            if cell(r.service.id, None) or any(i in moved and cell(r.service.id, c.node_id) for i, c in r.cells)
        )
        if kept:
            stacks.append(Stack(stack.name, kept))
    return Matrix(nodes=tuple(m.nodes[i] for i in keep), stacks=tuple(stacks))
