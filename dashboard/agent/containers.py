"""A node's swarm task containers, from its daemon's JSON to the agent's messages. Pure.

Only swarm task containers are reported (label com.docker.swarm.task.id): whatever else runs on the
node (a `docker run`, the agent's neighbours) is none of the dashboard's business.
"""

from __future__ import annotations

from typing import Any, get_args

from dashboard.agent.messages import MAX_MESSAGE_BYTES, MAX_OUTPUT_CHARS, Event, EventAction, Health, TaskContainer
from dashboard.agent.output import tail
from dashboard.agent.wire import size
from dashboard.core.docker import Event as DockerEvent
from dashboard.core.domain import JSON, as_dict, valid_id

TASK_LABEL = "com.docker.swarm.task.id"
SERVICE_LABEL = "com.docker.swarm.service.id"
ACTIONS: tuple[str, ...] = get_args(EventAction)
HEALTH: tuple[str, ...] = get_args(Health)
# what the daemon itself filters, so that nothing else crosses the socket: healthchecks alone make
# exec_create/exec_start/exec_die every few seconds per container. "health_status" matches its
# variants ("health_status: healthy") in the daemon's filter.
EVENT_FILTERS = {"type": ["container"], "event": list(ACTIONS), "label": [TASK_LABEL]}


def _str(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""


def health_of(state: JSON) -> tuple[Health, str]:
    """A container's health and its last check's output (its last whole lines), from the inspect's ``State``."""
    health = as_dict(state.get("Health"))
    status = _str(health.get("Status"))
    if status not in HEALTH or status == "":
        return "", ""
    log = health.get("Log")
    last = as_dict(log[-1]) if isinstance(log, list) and log else {}
    return status, tail(_str(last.get("Output")))  # type: ignore[return-value]


def task_ids(labels: Any) -> tuple[str, str] | None:
    """(task id, service id) from a container's labels; None for anything but a swarm task's container."""
    found = as_dict(labels)
    task_id, service_id = _str(found.get(TASK_LABEL)), _str(found.get(SERVICE_LABEL))
    if not valid_id(task_id) or not valid_id(service_id):
        return None
    return task_id, service_id


def task_container(inspect: JSON) -> TaskContainer | None:
    """GET /containers/{id}/json as an inventory entry; None when it is not a swarm task's container."""
    ids = task_ids(as_dict(inspect.get("Config")).get("Labels"))
    container_id = _str(inspect.get("Id"))
    if ids is None or not valid_id(container_id):
        return None
    state = as_dict(inspect.get("State"))
    running = state.get("Running") is True
    health, output = health_of(state)
    exit_code = state.get("ExitCode")
    return TaskContainer(
        task_id=ids[0],
        service_id=ids[1],
        container_id=container_id,
        running=running,
        health=health,
        output=output,
        oom_killed=state.get("OOMKilled") is True,
        exit_code=None if running or not isinstance(exit_code, int) else exit_code,
    )


def listed(raw: JSON) -> tuple[str, str] | None:
    """(task id, container id) of an entry of GET /containers/json, when it is a swarm task's container."""
    ids = task_ids(raw.get("Labels"))
    container_id = _str(raw.get("Id"))
    return (ids[0], container_id) if ids is not None and valid_id(container_id) else None


def event_action(event: DockerEvent) -> tuple[EventAction, Health] | None:
    """The action (and for health_status the new status) of a container event the agent reports."""
    if event.type != "container":
        return None
    action, _, status = event.action.partition(":")
    if action not in ACTIONS:
        return None
    health = status.strip()
    if action == "health_status":
        if health not in HEALTH or not health:
            return None
        return "health_status", health  # type: ignore[return-value]
    return action, ""  # type: ignore[return-value]


def event_message(event: DockerEvent, output: str = "") -> Event | None:
    """One of the daemon's container events as the agent's ``event``; None when it is not one the
    agent reports (another action, a container that is not a swarm task's)."""
    found = event_action(event)
    attrs = dict(event.attributes)
    ids = task_ids(attrs)
    if found is None or ids is None or not valid_id(event.actor_id):
        return None
    action, health = found
    exit_code: int | None = None
    if action == "die":
        try:
            exit_code = int(attrs.get("exitCode", ""))
        except ValueError:
            exit_code = None
    return Event(
        type="event",
        action=action,
        task_id=ids[0],
        service_id=ids[1],
        container_id=event.actor_id,
        time_nano=event.time_nano,
        exit_code=exit_code,
        health=health,
        output=tail(output) if action == "health_status" else "",
    )


def fit_inventory(tasks: list[TaskContainer], *, limit: int = MAX_MESSAGE_BYTES) -> list[TaskContainer]:
    """The inventory's entries shortened to fit one message of ``limit`` bytes: health outputs cut
    to shorter tails first (they are most of its size), then, on a node with more containers than
    one message holds, stopped containers' entries dropped before running ones'. Outputs are cut at a
    line boundary (dashboard.agent.output) so that no secret is cut from the key that names it."""
    message = {"type": "inventory", "tasks": tasks}
    keep = MAX_OUTPUT_CHARS
    while size(message) > limit and keep > 0:
        keep //= 4
        tasks = [TaskContainer(**{**t, "output": tail(t["output"], keep) if keep else ""}) for t in tasks]
        message = {"type": "inventory", "tasks": tasks}
    if size(message) <= limit:
        return tasks
    ordered = sorted(tasks, key=lambda t: not t["running"])
    budget = limit - size({"type": "inventory", "tasks": []})
    kept: list[TaskContainer] = []
    for entry in ordered:
        cost = size(entry) + 1
        if cost > budget:
            break
        budget -= cost
        kept.append(entry)
    return kept
