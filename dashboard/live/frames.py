"""The model as a socket is sent it: frames made once per model and view, shared by every socket
sent that model (a reconnect storm after a restart: one serialization, not hundreds), and its
packed form (?pack=1: one zlib stream, made once per model, off the event loop)."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dashboard.core.model import Snapshot
from dashboard.live import views as live_views
from dashboard.live.protocol import TASKS_PER_FRAME, SnapshotMessage, TasksMessage
from dashboard.live.wire import snapshot_json, task_json

ITEMS_PER_FRAME = 250  # nodes or services: each up to ~1 KB of JSON
# the packed model (what the pages ask for): tasks by column, zlib level 6, once per model, in a
# thread. By column because a column's values are alike (states, timestamps of one age, a service's
# id again and again) and deflate's window then sees them together: the simulator's 20,000 tasks
# (11.2 MB of JSON) pack to ~2.0 MB instead of ~2.8 MB as rows. Parts well under daphne's 1 MB frame
# limit.
PACK_LEVEL = 6
PACK_PART_BYTES = 512 * 1024
COLUMN_CHUNK = 1000  # tasks parsed back at a time: each json.loads holds the GIL ~5 ms, not ~100


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


# each task's JSON text, kept while the task stays the same (dashboard.live.views.TaskTexts)
task_texts = live_views.TaskTexts(task_json)


def with_tasks(message: SnapshotMessage | TasksMessage, tasks: list[str]) -> str:
    """The message as JSON text, its ``tasks`` list spliced in from texts already serialized."""
    rest = {k: v for k, v in message.items() if k != "tasks"}
    return f'{_dumps(rest)[:-1]},"tasks":[{",".join(tasks)}]}}'


@dataclass(frozen=True, slots=True)
class ModelFrames:
    """One model as a view's sockets are sent it: the first frame's parts (it also carries what
    changes with every send: Docker's age) and every further frame as text."""

    snapshot: Snapshot
    epoch: int
    seq: int
    status: dict[str, Any]
    first_nodes: list[Any]
    first_services: list[Any]
    first_tasks: list[str]
    rest: tuple[str, ...]
    nodes: list[Any]  # the whole model as this view has it, for the packed form
    services: list[Any]
    tasks: list[str]


_frames: OrderedDict[object, ModelFrames] = OrderedDict()
FRAMES_KEPT = 16  # views whose last model's frames are kept (the whole swarm's, and filtered walls')


def model_frames(
    snapshot: Snapshot,
    epoch: int,
    view: live_views.View | None,
    view_parts: Callable[[dict[str, Any]], live_views.Parts] | None = None,
) -> ModelFrames:
    """The frames of this model for this view: made at most once per model (a reconnect storm after a
    restart sends one model to hundreds of sockets: one serialization, shared)."""
    key = (view, ITEMS_PER_FRAME, TASKS_PER_FRAME)
    found = _frames.get(key)
    if found is not None and found.snapshot is snapshot and found.epoch == epoch:
        _frames.move_to_end(key)
        return found
    whole = snapshot_json(snapshot, with_tasks=False)
    if view is None:
        parts = whole["nodes"], whole["services"], task_texts.of(snapshot.tasks)
    else:
        # the view's share: through its hub when it has one (what it knows of the view already)
        parts = view_parts(whole) if view_parts is not None else live_views.snapshot_parts(snapshot, whole, view)
    nodes = _chunks(parts[0], ITEMS_PER_FRAME)
    services = _chunks(parts[1], ITEMS_PER_FRAME)
    tasks = _chunks(parts[2], TASKS_PER_FRAME)
    count = max(len(nodes), len(services), len(tasks))

    def part(chunks: list[list[Any]], i: int) -> list[Any]:
        return chunks[i] if i < len(chunks) else []

    rest = tuple(
        with_tasks(
            TasksMessage(
                type="tasks",
                seq=whole["seq"],
                epoch=epoch,
                nodes=part(nodes, i),
                services=part(services, i),
                tasks=[],
                more=i < count - 1,
            ),
            part(tasks, i),
        )
        for i in range(1, count)
    )
    status = live_views.status_for(snapshot.status, view)  # a read-only screen's reason is generic
    made = ModelFrames(
        snapshot, epoch, whole["seq"], status, part(nodes, 0), part(services, 0), part(tasks, 0), rest,
        list(parts[0]), list(parts[1]), list(parts[2]),
    )  # fmt: skip
    _frames[key] = made
    _frames.move_to_end(key)
    while len(_frames) > FRAMES_KEPT:
        _frames.popitem(last=False)
    return made


_packed: OrderedDict[object, tuple[ModelFrames, tuple[bytes, ...]]] = OrderedDict()
_packing: dict[object, asyncio.Future[tuple[bytes, ...]]] = {}


def task_columns(texts: list[str]) -> tuple[list[str], list[list[Any]]] | None:
    """Tasks' JSON texts as (fields, one list of values per field), or None when the tasks do not all
    have the same fields (then they travel as rows)."""
    fields: list[str] | None = None
    columns: list[list[Any]] = []
    for i in range(0, len(texts), COLUMN_CHUNK):
        for task in json.loads(f"[{','.join(texts[i : i + COLUMN_CHUNK])}]"):
            if fields is None:
                fields = list(task)
                columns = [[] for _ in fields]
            if len(task) != len(fields):
                return None
            try:
                for column, name in zip(columns, fields, strict=True):
                    column.append(task[name])
            except KeyError:
                return None
    return (fields or [], columns)


def _pack(frames: ModelFrames) -> tuple[bytes, ...]:
    """The model as one zlib stream of ``{"nodes", "services", "task_fields", "task_columns"}`` (or
    ``"tasks"`` as rows when they differ in shape), in binary frames."""
    head = f'{{"nodes":{_dumps(frames.nodes)},"services":{_dumps(frames.services)},'
    by_column = task_columns(frames.tasks)
    if by_column is None:
        text = f'{head}"tasks":[{",".join(frames.tasks)}]}}'
    else:
        # a column at a time: json.dumps holds the GIL for the whole of what it is given (~60 ms for all
        # of 20,000 tasks' columns at once), and the sockets' loop runs beside this thread
        columns = ",".join(_dumps(column) for column in by_column[1])
        text = f'{head}"task_fields":{_dumps(by_column[0])},"task_columns":[{columns}]}}'
    packed = zlib.compress(text.encode(), PACK_LEVEL)
    return tuple(packed[i : i + PACK_PART_BYTES] for i in range(0, len(packed), PACK_PART_BYTES)) or (b"",)


async def packed_frames(frames: ModelFrames, view: live_views.View | None) -> tuple[bytes, ...]:
    """The packed form of a view's model: compressed once per model, off the event loop, however
    many sockets ask for it at once."""
    key = view
    found = _packed.get(key)
    if found is not None and found[0] is frames:
        return found[1]
    pending = _packing.get(key)
    if pending is None or getattr(pending, "frames", None) is not frames:
        pending = asyncio.ensure_future(asyncio.to_thread(_pack, frames))
        pending.frames = frames  # type: ignore[attr-defined]
        _packing[key] = pending
    parts = await asyncio.shield(pending)
    if _packing.get(key) is pending:
        del _packing[key]
        _packed[key] = (frames, parts)
        _packed.move_to_end(key)
        while len(_packed) > FRAMES_KEPT:
            _packed.popitem(last=False)
    return parts
