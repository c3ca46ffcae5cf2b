"""Docker's JSON lists, decoded a slice at a time so that a 19 MB answer never holds the event loop."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import TypeVar

from dashboard.core.domain import JSON

T = TypeVar("T")
_SPACE = re.compile(r"[ \t\n\r]*")
LIST_SLICE = 500  # items decoded between two yields to the event loop: a few ms of work
MAX_LIST_BYTES = 256 * 1024 * 1024  # 20,000 tasks are ~19 MB: far beyond any swarm, short of exhausting memory


class MalformedList(ValueError):
    """Docker's answer is not a JSON list of objects."""


async def parse_list(raw: bytes, parse: Callable[[JSON], T], *, per_slice: int = LIST_SLICE) -> tuple[T, ...]:
    """A JSON list, decoded item by item, yielding to the event loop every ``per_slice`` items.

    The listing of 20,000 tasks is ~19 MB: ``json.loads`` and parsing it in one go hold the event
    loop for most of a second, and every websocket and heartbeat of the process waits meanwhile.
    The work is the same; only no slice of it blocks for long. Raises MalformedList on anything
    that is not a JSON list of objects; what ``parse`` raises passes through.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedList(f"not UTF-8: {e}") from None
    decoder = json.JSONDecoder()

    def space(at: int) -> int:
        return _SPACE.match(text, at).end()  # type: ignore[union-attr]

    def closed(at: int) -> None:
        if space(at + 1) != len(text):
            raise MalformedList(f"extra data after the list at character {at + 1}")

    at = space(0)
    if text[at : at + 1] != "[":
        raise MalformedList("not a JSON list")
    at = space(at + 1)
    items: list[T] = []
    if text[at : at + 1] == "]":
        closed(at)
        return ()
    while True:
        try:
            item, at = decoder.raw_decode(text, at)
        except ValueError as e:
            raise MalformedList(str(e)) from None
        if not isinstance(item, dict):
            raise MalformedList(f"item {len(items)} is not an object")
        items.append(parse(item))
        at = space(at)
        sep = text[at : at + 1]
        if sep == "]":
            closed(at)
            return tuple(items)
        if sep != ",":
            raise MalformedList(f"expected ',' or ']' at character {at}")
        at = space(at + 1)
        if len(items) % per_slice == 0:
            await asyncio.sleep(0)
