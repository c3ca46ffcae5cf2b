"""Reading what a node agent says (dashboard.agent.messages): one text frame in, one typed message
out, or AgentProtocolError saying what is wrong with it.

An agent holds the token, but its words are still hostile input: every field is checked for its
type and its size, no field may be missing or unknown, and strings stay strings (no markup is ever
read from them: the pages escape them like every other text). Pure: no Django, no I/O.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from dashboard.agent.messages import (
    MAX_MESSAGE_BYTES,
    MAX_OUTPUT_CHARS,
    PROTOCOL,
    AgentMessage,
    Event,
    Hello,
    Inventory,
    NodeUsage,
    Stats,
    TaskContainer,
    TaskUsage,
)
from dashboard.core.domain import valid_id

MAX_TASKS = 5000  # task containers in one inventory or stats message (a node runs far fewer)
MAX_NAME_CHARS = 255  # a hostname; a version string
ACTIONS = frozenset({"start", "die", "oom", "kill", "health_status", "destroy"})
HEALTH = frozenset({"healthy", "unhealthy", "starting", ""})
MAX_CPUS = 4096.0  # cores: more than any machine has, a bound on nonsense
MAX_BYTES = 2**60  # bytes of memory: the same


class AgentProtocolError(ValueError):
    """A message no agent of this protocol would send: the reason, fit for the log (no values)."""


def _fields(raw: Any, expected: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise AgentProtocolError(f"{what}: expected a JSON object")
    keys = set(raw)
    if keys != expected:
        missing, unknown = sorted(expected - keys), sorted(k[:40] for k in keys - expected)
        raise AgentProtocolError(f"{what}: missing fields {missing}, unknown fields {unknown}")
    return raw


def _sized(raw: dict[str, Any], key: str, what: str, kind: type[str] | type[list[Any]], most: int) -> Any:
    value = raw[key]
    if not isinstance(value, kind):
        raise AgentProtocolError(f"{what}.{key}: expected a {kind.__name__}")
    if len(value) > most:
        raise AgentProtocolError(f"{what}.{key}: more than {most} {'characters' if kind is str else 'items'}")
    return value


def _str(raw: dict[str, Any], key: str, what: str, *, most: int = MAX_NAME_CHARS) -> str:
    return str(_sized(raw, key, what, str, most))


def _id(raw: dict[str, Any], key: str, what: str) -> str:
    value = _str(raw, key, what, most=64)
    if not valid_id(value):
        raise AgentProtocolError(f"{what}.{key}: expected a Docker id (lower-case letters and digits)")
    return value


def _int(raw: dict[str, Any], key: str, what: str, *, optional: bool = False, low: int = 0, high: int = 2**63) -> Any:
    value = raw[key]
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise AgentProtocolError(f"{what}.{key}: expected a whole number from {low} to {high}")
    return value


def _number(raw: dict[str, Any], key: str, what: str, *, high: float) -> float:
    value = raw[key]
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= high:
        raise AgentProtocolError(f"{what}.{key}: expected a number from 0 to {high:g}")
    return float(value)


def _bool(raw: dict[str, Any], key: str, what: str) -> bool:
    value = raw[key]
    if not isinstance(value, bool):
        raise AgentProtocolError(f"{what}.{key}: expected true or false")
    return value


def _choice(raw: dict[str, Any], key: str, what: str, choices: frozenset[str]) -> str:
    value = raw[key]
    if not isinstance(value, str) or value not in choices:
        raise AgentProtocolError(f"{what}.{key}: expected one of {sorted(choices)}")
    return value


def _list(raw: dict[str, Any], key: str, what: str) -> list[Any]:
    return list(_sized(raw, key, what, list, MAX_TASKS))


def _hello(raw: dict[str, Any]) -> Hello:
    w = "hello"
    raw = _fields(raw, frozenset(Hello.__annotations__), w)
    if _int(raw, "protocol", w) != PROTOCOL:
        raise AgentProtocolError(f"hello.protocol: this dashboard speaks protocol {PROTOCOL} only")
    return Hello(
        type="hello", protocol=PROTOCOL, node_id=_id(raw, "node_id", w), hostname=_str(raw, "hostname", w),
        engine=_str(raw, "engine", w), agent=_str(raw, "agent", w),
    )  # fmt: skip


def _container(raw: Any) -> TaskContainer:
    w = "inventory.tasks[]"
    raw = _fields(raw, frozenset(TaskContainer.__annotations__), w)
    return TaskContainer(
        task_id=_id(raw, "task_id", w), service_id=_id(raw, "service_id", w),
        container_id=_id(raw, "container_id", w), running=_bool(raw, "running", w),
        health=cast(Any, _choice(raw, "health", w, HEALTH)), output=_str(raw, "output", w, most=MAX_OUTPUT_CHARS),
        oom_killed=_bool(raw, "oom_killed", w), exit_code=_int(raw, "exit_code", w, optional=True, low=-(2**31)),
    )  # fmt: skip


def _event(raw: dict[str, Any]) -> Event:
    w = "event"
    raw = _fields(raw, frozenset(Event.__annotations__), w)
    return Event(
        type="event", action=cast(Any, _choice(raw, "action", w, ACTIONS)), task_id=_id(raw, "task_id", w),
        service_id=_id(raw, "service_id", w), container_id=_id(raw, "container_id", w),
        time_nano=_int(raw, "time_nano", w), exit_code=_int(raw, "exit_code", w, optional=True, low=-(2**31)),
        health=cast(Any, _choice(raw, "health", w, HEALTH)), output=_str(raw, "output", w, most=MAX_OUTPUT_CHARS),
    )  # fmt: skip


def _usage(raw: Any) -> TaskUsage:
    w = "stats.tasks[]"
    raw = _fields(raw, frozenset(TaskUsage.__annotations__), w)
    return TaskUsage(
        task_id=_id(raw, "task_id", w), cpu=_number(raw, "cpu", w, high=MAX_CPUS),
        memory=_int(raw, "memory", w, high=MAX_BYTES), memory_limit=_int(raw, "memory_limit", w, high=MAX_BYTES),
    )  # fmt: skip


def _stats(raw: dict[str, Any]) -> Stats:
    w = "stats"
    raw = _fields(raw, frozenset(Stats.__annotations__), w)
    at = raw["at"]
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at) or at < 0:
        raise AgentProtocolError("stats.at: expected a unix time")
    n = "stats.node"
    node = _fields(raw["node"], frozenset(NodeUsage.__annotations__), n)
    return Stats(
        type="stats",
        at=float(at),
        node=NodeUsage(
            cpus=_number(node, "cpus", n, high=MAX_CPUS),
            cpu=_number(node, "cpu", n, high=MAX_CPUS),
            memory=_int(node, "memory", n, high=MAX_BYTES),
            memory_total=_int(node, "memory_total", n, high=MAX_BYTES),
        ),
        tasks=[_usage(item) for item in _list(raw, "tasks", w)],
    )


def parse_message(text: str | bytes) -> AgentMessage:
    """One frame as an agent message; AgentProtocolError with the reason for anything else."""
    if isinstance(text, bytes):
        raise AgentProtocolError("expected a text frame (JSON), not a binary one")
    if len(text) > MAX_MESSAGE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise AgentProtocolError(f"a message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise AgentProtocolError("not JSON") from None
    if not isinstance(raw, dict):
        raise AgentProtocolError("expected a JSON object")
    kind = raw.get("type")
    if kind == "hello":
        return _hello(raw)
    if kind == "inventory":
        raw = _fields(raw, frozenset(Inventory.__annotations__), "inventory")
        return Inventory(type="inventory", tasks=[_container(item) for item in _list(raw, "tasks", "inventory")])
    if kind == "event":
        return _event(raw)
    if kind == "stats":
        return _stats(raw)
    shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
    raise AgentProtocolError(f"unknown message type {shown!r}: expected hello, inventory, event or stats")
