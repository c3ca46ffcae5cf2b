"""Usage frames to this process's page sockets: each view gets what it shows, nothing more.

A signed-in user's whole-model socket gets the whole frame; a view (dashboard.live.views) gets the
tasks of the services it shows and the nodes it shows (a wall's filter: the nodes that hold its
tasks). Each view's texts are made once per frame, not once per socket (see dashboard.live.protocol
for the message).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dashboard.core.agents_usage import UsageFrame
from dashboard.core.model import Snapshot
from dashboard.core.registry import Swarm
from dashboard.live import fanout
from dashboard.live.hub import hub
from dashboard.live.protocol import USAGE_TASKS_PER_FRAME, UsageMessage
from dashboard.live.views import View, group_of


def texts(
    frame: UsageFrame, epoch: int, nodes: Mapping[str, list[float]], tasks: Mapping[str, list[float]]
) -> tuple[str, ...]:
    """The frame as one or more ``usage`` messages of bounded size (the nodes in the first)."""
    items = list(tasks.items())
    out = []
    for start in range(0, max(len(items), 1), USAGE_TASKS_PER_FRAME):
        message = UsageMessage(
            type="usage", epoch=epoch, at=frame.at, every=frame.every,
            nodes=dict(nodes) if start == 0 else {}, tasks=dict(items[start : start + USAGE_TASKS_PER_FRAME]),
        )  # fmt: skip
        out.append(json.dumps(message, separators=(",", ":")))
    return tuple(out)


def shown(frame: UsageFrame, snapshot: Snapshot, view: View, held: Mapping[str, int] | None) -> UsageFrame:
    """The part of ``frame`` a view shows: its services' tasks; a filtered view's nodes with its tasks."""
    if not view.filtered:
        return frame
    tasks = {}
    for task_id, row in frame.tasks.items():
        task = snapshot.tasks.get(task_id)
        if task is not None and view.matches(snapshot.services.get(task.service_id)):
            tasks[task_id] = row
    nodes = {node_id: row for node_id, row in frame.nodes.items() if held and held.get(node_id, 0) > 0}
    return UsageFrame(at=frame.at, every=frame.every, nodes=nodes, tasks=tasks)


def to_pages(swarm: Swarm, frame: UsageFrame) -> None:
    """One frame to every page socket of this process that shows the swarm."""
    epoch = swarm.watcher.epoch
    fanout.publish_usage(swarm.group, texts(frame, epoch, frame.nodes, frame.tasks))
    views = hub(swarm)
    for view in list(views.users):
        part = shown(frame, views.last, view, views.held.get(view))
        fanout.publish_usage(group_of(views.group, view), texts(part, epoch, part.nodes, part.tasks))
