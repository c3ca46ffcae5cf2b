"""The model as it travels between processes: Snapshots and Patches to compact JSON and back.

Each Node, Service, Task, ... travels as the list of its field values in the dataclass's order
(a third of the size of the same object with names), nested the same way. Decoding checks every
value against the field's type, so that a malformed or foreign message is a clear ValueError and
never half a model: Redis is shared infrastructure, and an entry written by another version of the
dashboard must not be mistaken for this one's. ``FORMAT`` changes whenever a field does.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from dashboard.core.domain import Config, Node, Port, Secret, SecretRef, Service, Task
from dashboard.core.model import KindPatch, Patch, Snapshot, Status

Decoder = Callable[[Any], Any]
KINDS: tuple[tuple[str, type[Any]], ...] = (
    ("nodes", Node),
    ("services", Service),
    ("tasks", Task),
    ("secrets", Secret),
    ("configs", Config),
)


def _fingerprint() -> str:
    """Names and types of every field that travels: two processes agree on the format iff equal."""
    parts = []
    # every dataclass that travels, nested ones included: a field changed anywhere changes FORMAT
    classes: tuple[type[Any], ...] = (Status, Port, SecretRef, *(cls for _, cls in KINDS))
    for cls in classes:
        hints = typing.get_type_hints(cls)
        parts.append(f"{cls.__name__}(" + ",".join(f"{f.name}:{hints[f.name]}" for f in dataclasses.fields(cls)) + ")")
    return ";".join(parts)


FORMAT = f"1-{hashlib.sha256(_fingerprint().encode()).hexdigest()[:12]}"


# --- encoding ------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_encode(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def encode_item(item: Any) -> list[Any]:
    return [_encode(getattr(item, f.name)) for f in dataclasses.fields(item)]


def _kind_patch(p: KindPatch[Any]) -> dict[str, Any]:
    return {
        "added": [encode_item(x) for x in p.added],
        "changed": [encode_item(x) for x in p.changed],
        "removed": list(p.removed),
    }


def snapshot_data(snapshot: Snapshot) -> dict[str, Any]:
    data: dict[str, Any] = {"format": FORMAT, "seq": snapshot.seq, "status": encode_item(snapshot.status)}
    for kind, _ in KINDS:
        data[kind] = [encode_item(x) for x in getattr(snapshot, kind).values()]
    return data


def patch_data(patch: Patch) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "base_seq": patch.base_seq,
        "seq": patch.seq,
        "status": encode_item(patch.status) if patch.status is not None else None,
    }
    for kind, _ in KINDS:
        data[kind] = _kind_patch(getattr(patch, kind))
    return data


def dumps(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# --- decoding ------------------------------------------------------------------------------------


def _scalar(expected: type) -> Decoder:
    def check(value: Any) -> Any:
        # bool is an int in Python, never in our fields; an int is a fine float (JSON drops ".0")
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ValueError(f"expected {expected.__name__}, got {type(value).__name__}")
        return value

    return check


@functools.cache
def _decoder(tp: Any) -> Decoder:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return _scalar(type(None))
    if tp in (str, int, float, bool):
        return _scalar(tp)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)

        def literal(value: Any) -> Any:
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {allowed}")
            return value

        return literal
    if origin in (typing.Union, types.UnionType):
        options = [_decoder(a) for a in typing.get_args(tp)]

        def union(value: Any) -> Any:
            for option in options:
                try:
                    return option(value)
                except ValueError:
                    continue
            raise ValueError(f"{value!r} fits none of {tp}")

        return union
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            each = _decoder(args[0])
            return lambda value: tuple(each(v) for v in _list(value))
        parts = [_decoder(a) for a in args]

        def fixed(value: Any) -> Any:
            items = _list(value)
            if len(items) != len(parts):
                raise ValueError(f"expected {len(parts)} values, got {len(items)}")
            return tuple(p(v) for p, v in zip(parts, items, strict=True))

        return fixed
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return functools.partial(decode_item, tp)
    raise TypeError(f"no decoder for {tp!r}")  # a field type this codec does not know: a bug here


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return value


@functools.cache
def _field_decoders(cls: Any) -> tuple[tuple[str, Decoder], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls))


def decode_item(cls: Any, value: Any) -> Any:
    fields = _field_decoders(cls)
    items = _list(value)
    if len(items) != len(fields):
        raise ValueError(f"{cls.__name__}: expected {len(fields)} fields, got {len(items)}")
    try:
        return cls(**{name: decode(v) for (name, decode), v in zip(fields, items, strict=True)})
    except ValueError as e:
        raise ValueError(f"{cls.__name__}: {e}") from None


def _check_format(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object")
    if data.get("format") != FORMAT:
        raise ValueError(f"written in format {data.get('format')!r}, this process reads {FORMAT!r}")
    return data


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key}: expected a non-negative integer")
    return value


def loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None


def snapshot_from(data: Any) -> Snapshot:
    data = _check_format(data)
    kinds = {}
    for kind, cls in KINDS:
        items = [decode_item(cls, v) for v in _list(data.get(kind))]
        kinds[kind] = MappingProxyType({item.id: item for item in items})
    # as the leader derived it (orphaned tasks included): no second derivation
    return Snapshot(seq=_int(data, "seq"), status=decode_item(Status, data.get("status")), **kinds)


def patch_from(data: Any) -> Patch:
    data = _check_format(data)
    kinds = {}
    for kind, cls in KINDS:
        raw = data.get(kind)
        if not isinstance(raw, Mapping):
            raise ValueError(f"{kind}: expected an object")
        removed = _list(raw.get("removed"))
        if not all(isinstance(r, str) for r in removed):
            raise ValueError(f"{kind}: removed ids must be strings")
        kinds[kind] = KindPatch(
            added=tuple(decode_item(cls, v) for v in _list(raw.get("added"))),
            changed=tuple(decode_item(cls, v) for v in _list(raw.get("changed"))),
            removed=tuple(removed),
        )
    status = data.get("status")
    return Patch(
        base_seq=_int(data, "base_seq"),
        seq=_int(data, "seq"),
        status=decode_item(Status, status) if status is not None else None,
        **kinds,
    )
