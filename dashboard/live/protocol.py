"""The websocket protocol of the live grid, as typed messages.

Server to browser: ``snapshot`` (then ``tasks`` chunks while ``more`` is true), ``patch``,
``usage``, ``error``, ``pong``, and ``heartbeat`` for sockets opened with ``?heartbeat=1``. Browser to
server: ``resync`` (send me the whole model again, e.g. after a seq gap), ``ping``. A whole model
at 20,000 tasks is megabytes of JSON; it travels in chunks so that no single frame is large.

Every snapshot, chunk, patch and heartbeat carries an ``epoch``: which model its seq belongs to.
Processes sharing Redis serve the model of the process that holds the watcher lease; a new holder
builds a new model whose seqs start over, in a new epoch. A page applies patches of its own epoch
only and asks for the model on any other (its server also sends it the new model unasked); one
process on its own serves epoch 0.

An idle swarm sends nothing, which a page cannot tell from a frozen server or a dead network: a
socket that asks for it gets a ``heartbeat`` after every ``SWARM_HEARTBEAT_SECONDS`` without any
other frame. It is read from the model in memory (no Docker request) and is a few dozen bytes. Its
``seq`` lets a page that missed the last patch of a burst notice it while the swarm stays quiet;
the heartbeat does not travel through the patches' group, so it may overtake a patch in flight,
and a page treats a seq ahead of its model as a gap only if the next heartbeat still finds it so.
Clients that do not ask keep the older protocol: after the model, every frame is a patch (or an
answer to what they sent).

A live socket does not prove a live model: the watcher may have stopped hearing from Docker while
its status still says ``live`` (a frozen daemon answers nothing until a request times out). The
snapshot and every heartbeat carry ``docker_age``, the seconds since Docker last answered the
watcher, so that a page judges the model's freshness by Docker's last word; a patch follows an
answer from Docker by construction. ``docker_every`` is how often a healthy watcher hears from
Docker on an idle swarm (its reconcile), the floor of any bound a page puts on that age.

``version`` names the page scripts and styles the server serves now: a page served with other ones
(a wall left open across an upgrade) reloads itself.

Budgets (dashboard.live.guard): a socket may ask ``resync`` RESYNC_BURST times at once, then once
every RESYNC_EVERY_SECONDS; a request beyond that is answered with an ``error`` and served once the
budget allows, however many came meanwhile (they coalesce into one model). A client that sends more
than FRAMES_BURST frames at once, or more than FRAMES_PER_SECOND for long, is closed with
CLOSE_TOO_MANY. What the server sends waits while the connection's write buffer is full; a client
that reads nothing for WS_SEND_STALL_SECONDS is closed with CLOSE_TOO_SLOW, as is a client that
sends frames but leaves a ``ping`` of the server unanswered for WS_PING_TIMEOUT_SECONDS (daphne's own
pings go only to sockets that send nothing, and any frame stands in for their pong). The server
sends such a ``ping`` (``id``) to a client that sent something since its last ``pong`` once
WS_PING_SECONDS have passed since then; the page answers ``{"type": "pong", "id": <the same>}``.

Resource use (``usage``) is not the model: node agents sample it every few seconds, and a patch per
sample would drown the patches that matter. Every ``every`` seconds (AGENT_STATS_EVERY) while any
agent is live, each socket is sent the latest sample of each node and task its view shows: ``nodes``
maps a node id to ``[cpu, cpus, memory, memory_total]`` (cores in use by its task containers, cores
it has, bytes in use by its task containers, bytes it has), ``tasks`` a task id to ``[cpu, memory,
memory_limit]`` (cores, bytes, bytes; limit 0: none of its own). ``at`` is the unix time the frame
was made. A frame names only what has a fresh sample; a large one comes as several frames of the
same ``at`` (USAGE_TASKS_PER_FRAME tasks each, the nodes in the first). A page keeps each sample
until a newer one comes and drops it once older than a few ``every`` (its agent is gone). A socket
that reads slowly gets the newest frame only: usage is never queued behind itself, and never makes
the model due. The last 15 minutes of a task's samples are at ``GET /tasks/<id>/usage``.

Close codes: the server says why in an ``error`` frame just before it closes.
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import Any, Literal, NotRequired, TypedDict


class SnapshotMessage(TypedDict):
    type: Literal["snapshot"]
    seq: int
    epoch: int  # which model the seq belongs to (see the module's notes)
    status: dict[str, Any]
    nodes: list[dict[str, Any]]
    services: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    more: bool  # true: ``tasks`` messages of the same seq follow
    docker_age: float | None  # seconds since Docker last answered the watcher; None: never
    docker_every: float  # seconds: a healthy watcher hears from Docker at least this often
    version: str  # page_version(): a page served with another one reloads
    # ?pack=1: this many binary frames follow, together one zlib stream of {"nodes", "services",
    # "tasks"} (the lists above are then empty)
    packed: NotRequired[int]


class TasksMessage(TypedDict):
    """A further chunk of the model announced by ``snapshot``: more nodes, services and tasks."""

    type: Literal["tasks"]
    seq: int
    epoch: int
    nodes: list[dict[str, Any]]
    services: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    more: bool


class PatchMessage(TypedDict):
    type: Literal["patch"]
    epoch: int
    base_seq: int
    seq: int
    nodes: dict[str, Any]
    services: dict[str, Any]
    tasks: dict[str, Any]


class UsageMessage(TypedDict):
    """Resource use from the node agents (see the module's notes): the latest sample of each node and task."""

    type: Literal["usage"]
    epoch: int
    at: float  # unix time the frame was made
    every: float  # seconds between two frames
    nodes: dict[str, list[float]]  # node id -> [cpu, cpus, memory, memory_total]
    tasks: dict[str, list[float]]  # task id -> [cpu, memory, memory_limit]


class ErrorMessage(TypedDict):
    type: Literal["error"]
    error: str


class PongMessage(TypedDict):
    type: Literal["pong"]
    seq: int


class HeartbeatMessage(TypedDict):
    type: Literal["heartbeat"]
    seq: int  # the seq of the server's model when it was sent
    epoch: int
    state: str  # the server's connection to Docker (Status.state): "live", "reconnecting", ...
    every: float  # seconds: silence longer than a few of these means the socket is dead
    docker_age: float | None  # seconds since Docker last answered the watcher; None: never


class PingMessage(TypedDict):
    """The server asks a client that sends frames to prove that it still reads: answer with a pong of this id."""

    type: Literal["ping"]
    id: str


HEARTBEAT_PARAM = "heartbeat"
PACK_PARAM = "pack"


CLIENT_TYPES = ("resync", "ping", "pong")

# Close codes. The page stops reconnecting on CLOSE_BAD_REQUEST, CLOSE_SIGNED_OUT and CLOSE_FORBIDDEN
# and says why; it reconnects at once on CLOSE_TOO_SLOW, and after a pause on CLOSE_TOO_MANY.
CLOSE_BAD_REQUEST = 4400  # the socket's address asks for what cannot be shown (a malformed wall filter)
CLOSE_SIGNED_OUT = 4401  # no session (any more): signed out, password changed, session expired, account removed
CLOSE_FORBIDDEN = 4403  # no longer allowed: account deactivated, role changed, kiosk token revoked
CLOSE_NOT_FOUND = 4404  # (log socket) no such task
CLOSE_TOO_SLOW = 4408  # the client read nothing for too long, or left a ping unanswered
CLOSE_TOO_MANY = 4429  # too many frames from the client; (log socket) too many log streams open

RESYNC_BURST = 3
RESYNC_EVERY_SECONDS = 5.0
FRAMES_BURST = 30
FRAMES_PER_SECOND = 5.0
USAGE_TASKS_PER_FRAME = 5000  # a task's sample is ~50 bytes of JSON
TASKS_PER_FRAME = 500  # a task is up to ~1 KB of JSON: daphne closes a socket on a frame over 1 MB


# a test's way to give a restarted server another version without touching its files
PAGE_VERSION_SALT_ENV = "PAGE_VERSION_SALT"


@functools.cache
def page_version() -> str:
    """A short hash of the page scripts and styles this process serves (static/dashboard/), read
    once: the files a page was served with may change on disk (an upgrade) while it stays open."""
    from django.contrib.staticfiles import finders

    digest = hashlib.sha256(os.environ.get(PAGE_VERSION_SALT_ENV, "").encode())
    files: dict[str, bytes] = {}
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            if path.startswith("dashboard/") and path not in files:  # the first finder wins, as when served
                with storage.open(path) as f:
                    files[path] = f.read()
    for path in sorted(files):
        digest.update(f"{path}\0{len(files[path])}\0".encode())
        digest.update(files[path])
    return digest.hexdigest()[:16]
