"""The shape of Docker's JSON: every key path of a document, each leaf with its JSON type."""

from __future__ import annotations

from typing import Any

MAPS = frozenset({"Labels", "Attributes"})


def shape(doc: Any, prefix: str = "") -> set[str]:
    """Every key path of ``doc``; leaves carry their JSON type, lists their items' shapes as ``[]``."""
    if isinstance(doc, list):
        return set().union(*(shape(item, prefix + "[]") for item in doc))
    if not isinstance(doc, dict):
        return {f"{prefix}:{type(doc).__name__}"}
    paths = {prefix} if prefix else set()
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        paths |= {f"{path}:dict"} if key in MAPS else shape(value, path)
    return paths


def shapes(docs: list[Any]) -> set[str]:
    return set().union(*(shape(d) for d in docs))
