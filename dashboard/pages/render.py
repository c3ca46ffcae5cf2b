"""Server-side first paint of the grid. static/dashboard/grid.js renders the same markup for patches.

Plain string building with html.escape on every value: a swarm of 20,000 tasks renders in a
fraction of a second, and a hostile service name or label is text, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from html import escape

from dashboard.core.domain import Node, Service, Task, docker_time, image_without_digest
from dashboard.core.model import Snapshot, counts
from dashboard.live.wire import labels_json, service_hue

STATE_ICONS = {
    "new": "+", "allocated": "+", "pending": "…", "assigned": "→", "accepted": "→", "preparing": "↻",
    "ready": "↻", "starting": "↻", "running": "▶", "complete": "✔", "shutdown": "■", "failed": "✖",
    "rejected": "⊘", "remove": "■", "orphaned": "?",
}  # fmt: skip
HIDDEN_WHEN_DONE = frozenset({"shutdown", "complete", "remove"})
FAILED = frozenset({"failed", "rejected"})
# a container's health as its node agent says it: a mark that reads without colour (its shape, and
# its name for a screen reader); as static/dashboard/draw.js's HEALTH
HEALTH_MARKS = {"healthy": "♥", "unhealthy": "⚠", "starting": "◔"}
AGENT_TITLE = "a node agent runs here: health, OOM kills and resource use come from this node"


def task_state(task: Task) -> str:
    return "orphaned" if task.orphaned else task.state


def visible(task: Task, *, failed_window: timedelta, now: datetime) -> bool:
    """Finished history is hidden; failures stay for ``failed_window`` so they are never missed."""
    state = task_state(task)
    if state in HIDDEN_WHEN_DONE:
        return False
    if state in FAILED:
        since = docker_time(task.status_at)
        return since is None or now - since <= failed_window
    return True


def node_order(nodes: Iterable[Node]) -> list[Node]:
    return sorted(nodes, key=lambda n: (n.role != "manager", n.hostname, n.id))


def task_sort_key(task: Task, services: dict[str, Service]) -> tuple[str, int, str, str]:
    service = services.get(task.service_id)
    return (service.name if service else "", task.slot or 0, task.created_at, task.id)


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def image_tag(image: str) -> str:
    """``registry:5000/team/web:1.25`` -> ``1.25``; an image without a tag -> ``latest``."""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def error_text(task: Task) -> str:
    """What went wrong, in the fewest words: "OOM killed" for a container the kernel killed for
    memory (its node agent says so; Docker's own error then is only an exit code), else Docker's."""
    if task.oom_killed and task_state(task) not in ACTIVE:
        return "OOM killed"
    return task.error or ("exit " + str(task.exit_code) if task.exit_code not in (None, 0) else "")


ACTIVE = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"})


def health_mark(health: str) -> str:
    mark = HEALTH_MARKS.get(health)
    if mark is None:
        return ""
    return (
        f'<span class="hm hm-{health}" role="img" aria-label="health: {health}" title="health: {health}">{mark}</span>'
    )


def box_version(task: Task) -> str:
    """What a box shows changes with these (static/dashboard/grid.js's boxVersion writes the same)."""
    return f"{task.updated_at}{int(task.orphaned)}{task.health}{int(task.oom_killed)}"


def task_box(task: Task, service: Service | None, *, match: bool = True, tab_stop: bool = False) -> str:
    """A task's box; ``match``: whether the page's filter matches it; ``tab_stop``: the one box of
    the grid that Tab reaches (the arrows move on from it: a roving tabindex)."""
    state = task_state(task)
    name = service.name if service else task.service_id[:12]
    hue = _hue(service)
    slot = f".{task.slot}" if task.slot is not None else ""
    error = error_text(task)
    title = (
        f"{name}{slot} · {state}" + (f" · {error}" if error else "") + (f" · {task.message}" if task.message else "")
    )
    return (
        f'<div class="task st-{_attr(state)} h-{hue}" tabindex="{0 if tab_stop else -1}" '
        f'data-task-id="{_attr(task.id)}" data-match="{"true" if match else "false"}" '
        f'data-service-id="{_attr(task.service_id)}" data-node-id="{_attr(task.node_id)}" '
        f'data-state="{_attr(state)}" data-desired-state="{_attr(task.desired_state)}" '
        f'data-since="{_attr(task.status_at)}" data-v="{_attr(box_version(task))}" '
        f'title="{_attr(title)}">'
        f'<span class="svc">{escape(name)}</span><span class="slot">{escape(slot)}</span>'
        f'<span class="img" title="{_attr(image_without_digest(task.image))}">:{escape(image_tag(task.image))}</span>'
        f'<span class="st"><i aria-hidden="true">{STATE_ICONS.get(state, "·")}</i> {escape(state)}'
        f"{health_mark(task.health)}</span>"
        f'<span class="age"></span>'
        + (f'<span class="err" title="{_attr(error)}">!</span>' if error else "")
        # its CPU and memory bars, drawn by the page from the node agents' samples
        + '<span class="use" aria-hidden="true" hidden></span></div>'
    )


def _hue(service: Service | None) -> int:
    return service_hue(service.name) if service else 0


def node_header(node: Node) -> str:
    badges = [f'<span class="badge role">{escape(node.role)}</span>']
    if node.leader:
        badges.append('<span class="badge leader" title="swarm leader">★ leader</span>')
    badges.append(f'<span class="badge state-{_attr(node.state)}">{escape(node.state)}</span>')
    if node.agent:
        badges.append(f'<span class="badge agent" title="{AGENT_TITLE}">agent</span>')
    if node.availability != "active":
        badges.append(f'<span class="badge avail-{_attr(node.availability)}">{escape(node.availability)}</span>')
    memory = f"{node.memory_bytes / 2**30:.1f} GiB" if node.memory_bytes else ""
    facts = " · ".join(x for x in (f"{node.cpus:g} CPU" if node.cpus else "", memory, node.engine_version) if x)
    return (
        f'<header><h2 title="{_attr(node.id)}">{escape(node.hostname or node.id[:12])}</h2>'
        f'<div class="badges">{"".join(badges)}</div><div class="facts">{escape(facts)}</div>'
        '<div class="node-usage" hidden></div></header>'
    )


def node_column(node: Node | None, boxes: list[str] | None, band: str | None = None) -> str:
    """A node's column; ``boxes`` None: an empty column the page fills when it scrolls into view;
    ``band``: the value of the label the grid is grouped by ("" for a node without it)."""
    filled = "" if boxes is None else ' data-filled="1"'
    if band is not None:
        filled += f' data-band="{_attr(band)}"'
    inner = "".join(boxes or ())
    if node is None:
        return (
            f'<section class="node unassigned" data-node-id="" data-state="" data-availability="" data-role=""{filled}>'
            '<header><h2>unassigned</h2><div class="facts">tasks no node has taken</div></header>'
            f'<div class="tasks">{inner}</div></section>'
        )
    return (
        f'<section class="node" data-node-id="{_attr(node.id)}" data-state="{_attr(node.state)}" '
        f'data-availability="{_attr(node.availability)}" data-role="{_attr(node.role)}"{filled}>'
        f'{node_header(node)}<div class="tasks">{inner}</div></section>'
    )


# A 3840 px wide screen shows 15 columns of 15rem. The page holds boxes only for the columns in
# view (and a screen's width either side): at 500 nodes and 20,000 tasks the whole grid would be
# 12 MB of HTML and a quarter of a million elements, which no browser renders at a live pace.
FIRST_SCREEN_COLUMNS = 16


def band_header(group: str, value: str) -> str:
    """The header of the nodes whose label ``group`` is ``value`` ("": the nodes without it)."""
    text = f"{group}={value}" if value else f"no {group}"
    return f'<h2 class="band" data-band="{_attr(value)}">{escape(text)}</h2>'


def bands(nodes: Iterable[Node], group: str, labels: Callable[[Node], dict[str, str]]) -> list[tuple[str, list[Node]]]:
    """The nodes in bands by their label ``group``: one per value, in order, the nodes without it last."""
    per: dict[str, list[Node]] = {}
    for node in node_order(nodes):
        per.setdefault(labels(node).get(group, ""), []).append(node)
    return sorted(per.items(), key=lambda item: (item[0] == "", item[0]))


Match = Callable[[Task], bool]


def grid(
    snapshot: Snapshot,
    *,
    failed_window: timedelta,
    history: bool = False,
    now: datetime | None = None,
    filled: int = FIRST_SCREEN_COLUMNS,
    match: Match | None = None,
    group: str = "",
    labels: Callable[[Node], dict[str, str]] = lambda n: labels_json(n.labels),
) -> str:
    """Every node's column in page order (in bands by the node label ``group``, if given; the
    unassigned tasks last, so that their coming and going moves no node's column); only the first
    ``filled`` columns hold their task boxes, each marked as ``match`` finds it."""
    now = now or datetime.now(UTC)
    services = dict(snapshot.services)
    per_node: dict[str, list[Task]] = {}
    for task in snapshot.tasks.values():
        if history or visible(task, failed_window=failed_window, now=now):
            per_node.setdefault(task.node_id if task.node_id in snapshot.nodes else "", []).append(task)
    parts = []
    shown = 0
    stop = True  # the first box on the page is the grid's tab stop
    grouped = bands(snapshot.nodes.values(), group, labels) if group else [("", node_order(snapshot.nodes.values()))]
    for value, nodes in grouped:
        if group:
            parts.append(band_header(group, value))
        for node in nodes:
            boxes = _boxes(per_node.get(node.id, []), services, match, first=stop) if shown < filled else None
            stop = stop and not boxes
            parts.append(node_column(node, boxes, value if group else None))
            shown += 1
    if per_node.get(""):
        parts.append(node_column(None, _boxes(per_node[""], services, match, first=stop)))
    return "".join(parts)


def match_counts(
    snapshot: Snapshot, match: Match, *, failed_window: timedelta, history: bool = False, now: datetime | None = None
) -> tuple[int, int]:
    """How many of the tasks the grid shows ``match`` finds, and how many it shows."""
    now = now or datetime.now(UTC)
    shown = [t for t in snapshot.tasks.values() if history or visible(t, failed_window=failed_window, now=now)]
    return sum(1 for t in shown if match(t)), len(shown)


def _boxes(tasks: list[Task], services: dict[str, Service], match: Match | None, *, first: bool) -> list[str]:
    tasks.sort(key=lambda t: task_sort_key(t, services))
    return [
        task_box(t, services.get(t.service_id), match=match is None or match(t), tab_stop=first and i == 0)
        for i, t in enumerate(tasks)
    ]


def service_title(service: Service) -> str:
    return "\n".join([service.image, *(f"{k}={v}" for k, v in labels_json(service.labels).items())])


def legend(snapshot: Snapshot) -> str:
    """The services by stack, each stack under its name (a button that filters the grid by it)."""
    service_counts = counts(snapshot)
    items = []
    stack: str | None = None
    for service in sorted(snapshot.services.values(), key=lambda s: (s.stack, s.name)):
        if service.stack != stack:
            stack = service.stack
            if stack:
                items.append(stack_item(stack))
        running, desired = service_counts[service.id]
        wanted = "∞" if desired is None else str(desired)
        short = " short" if desired is not None and running < desired else ""
        items.append(
            f'<li class="svc-item h-{service_hue(service.name)}{short}" data-service-id="{_attr(service.id)}" '
            f'data-stack="{_attr(service.stack)}" title="{_attr(service_title(service))}"><span class="swatch"></span>'
            f'<span class="name">{escape(service.name)}</span> <span class="count">{running}/{wanted}</span></li>'
        )
    return "".join(items)


def stack_item(stack: str) -> str:
    return (
        f'<li class="stack-item" data-stack="{_attr(stack)}"><button type="button" class="link" '
        f'data-q="{_attr(stack_query(stack))}" title="show only this stack">{escape(stack)}</button></li>'
    )


def stack_query(stack: str) -> str:
    """The filter term of a stack, quoted when it must be (as static/dashboard/filter.js reads it)."""
    return f'stack:"{stack}"' if any(c.isspace() or c == '"' for c in stack) else f"stack:{stack}"
