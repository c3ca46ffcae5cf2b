"""The services x nodes matrix (dashboard.core.matrix) as an HTML table, built as text with every
value escaped, like the grid's first paint (dashboard.pages.render): at 500 nodes and 500 services
a template would take seconds over the 250,000 cells, most of them empty: a run of empty cells is one
<td colspan> (a bare <td> each was 2.4 MB of HTML at that size)."""

from __future__ import annotations

from html import escape

from dashboard.core.matrix import Cell, Matrix, Row


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _header(m: Matrix, nodes_url: str) -> str:
    cols = []
    for n in m.nodes:
        badge = ""
        if n.state != "ready":
            badge = f' <span class="badge state-{_attr(n.state)}">{escape(n.state)}</span>'
        elif n.availability != "active":
            badge = f' <span class="badge avail-{_attr(n.availability)}">{escape(n.availability)}</span>'
        cols.append(
            f'<th scope="col" data-node-id="{_attr(n.id)}" data-state="{_attr(n.state)}" '
            f'data-availability="{_attr(n.availability)}"><a href="{_attr(nodes_url + n.id)}/">'
            f"{escape((n.hostname or n.id)[:40])}</a>{badge}</th>"
        )
    return f'<thead><tr><th scope="col">service</th><th scope="col">running</th>{"".join(cols)}</tr></thead>'


def _cell(cell: Cell) -> str:
    parts = []
    if cell.running:
        parts.append(f'<span class="n run">{cell.running}</span>')
    if cell.active:
        parts.append(f'<span class="n act">{cell.active}</span>')
    if cell.failed:
        parts.append(f'<span class="n bad">{cell.failed}</span>')
    # data-active and data-failed only when not 0: a cell is sent again on each change
    extra = (f' data-active="{cell.active}"' if cell.active else "") + (
        f' data-failed="{cell.failed}"' if cell.failed else ""
    )
    return (
        f'<td class="cell" data-node-id="{_attr(cell.node_id)}" data-running="{cell.running}"{extra}>'
        f"{''.join(parts)}</td>"
    )


def _empty(run: int) -> str:
    if run <= 0:
        return ""
    return "<td></td>" if run == 1 else f'<td colspan="{run}"></td>'


def _row(row: Row, columns: int, services_url: str) -> str:
    s = row.service
    short = " short" if row.desired is not None and row.running < row.desired else ""
    wanted = "∞" if row.desired is None else str(row.desired)
    cells = []
    at = 0
    for i, cell in row.cells:
        cells.append(_empty(i - at))
        cells.append(_cell(cell))
        at = i + 1
    cells.append(_empty(columns - at))
    return (
        f'<tr data-service-id="{_attr(s.id)}"><th scope="row"><a href="{_attr(services_url + s.id)}/">'
        f'{escape(s.name)}</a></th><td class="count{short}" data-running="{row.running}" '
        f'data-desired="{"" if row.desired is None else row.desired}">{row.running}/{wanted}</td>{"".join(cells)}</tr>'
    )


def table(m: Matrix, *, services_url: str, nodes_url: str) -> str:
    """The matrix; ``services_url`` and ``nodes_url``: the lists' URLs, a service's or node's page below them."""
    width = len(m.nodes) + 2
    bodies = []
    for stack in m.stacks:
        rows = "".join(_row(r, len(m.nodes), services_url) for r in stack.rows)
        bodies.append(
            f'<tbody data-stack="{_attr(stack.name)}"><tr class="stack"><th scope="rowgroup" colspan="{width}">'
            f"{escape(stack.name)}</th></tr>{rows}</tbody>"
        )
    if not bodies:
        bodies.append('<tbody><tr><td colspan="2" class="muted">no services</td></tr></tbody>')
    return f'<table class="matrix" id="matrix">{_header(m, nodes_url)}{"".join(bodies)}</table>'
