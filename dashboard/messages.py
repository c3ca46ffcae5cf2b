"""The websocket protocol of the live grid, as typed messages.

Server to browser: ``snapshot`` (then ``tasks`` chunks while ``more`` is true), ``patch``,
``error``, ``pong``. Browser to server: ``resync`` (send me the whole model again, e.g. after a
seq gap), ``ping``. A whole model at 20,000 tasks is megabytes of JSON; it travels in chunks so
that no single frame is large.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class SnapshotMessage(TypedDict):
    type: Literal["snapshot"]
    seq: int
    status: dict[str, Any]
    nodes: list[dict[str, Any]]
    services: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    more: bool  # true: ``tasks`` messages of the same seq follow


class TasksMessage(TypedDict):
    type: Literal["tasks"]
    seq: int
    tasks: list[dict[str, Any]]
    more: bool


class PatchMessage(TypedDict):
    type: Literal["patch"]
    base_seq: int
    seq: int
    nodes: dict[str, Any]
    services: dict[str, Any]
    tasks: dict[str, Any]


class ErrorMessage(TypedDict):
    type: Literal["error"]
    error: str


class PongMessage(TypedDict):
    type: Literal["pong"]
    seq: int


CLIENT_TYPES = ("resync", "ping")
TASKS_PER_FRAME = 2000
