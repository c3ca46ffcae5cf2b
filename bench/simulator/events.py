"""/events: the buffer `since` replays, the listeners, Docker's filters and the wire formats by engine."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from bench.simulator.model import JSON, LISTENER_QUEUE, ApiError, dumps

EVENT_FILTERS = frozenset(
    {"config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret"}
    | {"service", "type", "volume"}
)
NAMED_EVENT_FILTERS = EVENT_FILTERS - {"event", "label", "scope", "type"}
MEDIA_JSON = "application/json"
MEDIA_NDJSON = "application/x-ndjson"
MEDIA_JSON_SEQ = "application/json-seq"

# how an event is written (see encode)
LEGACY = "legacy"  # 20.10: the deprecated status/id/from first, in the struct's order
BACKFILLED = "backfilled"  # 29 below API 1.52: the same fields merged back through a Go map (keys sorted)
CURRENT = "current"  # 29 at API 1.52: without them


class Item:
    """One event, with its encodings made on first use."""

    __slots__ = ("encoded", "event", "when")

    def __init__(self, event: JSON) -> None:
        self.event = event
        self.when = int(event["timeNano"])
        self.encoded: dict[str, bytes] = {}

    def line(self, style: str, media: str) -> bytes:
        key = style + media
        if key not in self.encoded:
            line = encode(self.event, style) + b"\n"
            self.encoded[key] = b"\x1e" + line if media == MEDIA_JSON_SEQ else line
        return self.encoded[key]


def encode(event: JSON, style: str) -> bytes:
    """`status`, `id` and `from` were deprecated in API 1.22 and dropped in 1.52 (version-history v1.52)."""
    if event["Type"] != "container" or style == CURRENT:
        return dumps(event)
    actor = event["Actor"]
    legacy = {"status": event["Action"], "id": actor["ID"], "from": actor["Attributes"].get("image")}
    if style == BACKFILLED:  # daemon/server/router/system/system_routes.go backFillLegacy: compat.Wrap
        return dumps(event | legacy, sort_keys=True)
    return dumps(legacy | event)


def negotiate(accept: str, *, legacy: bool) -> str:
    """The Content-Type of /events: 20.10 always says JSON; 29 negotiates (gddo's NegotiateContentType)."""
    if legacy:
        return MEDIA_JSON
    best, best_q, best_wild = MEDIA_JSON, -1.0, 3
    specs = []
    for part in accept.split(","):
        value, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, raw = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(raw)
                except ValueError:
                    q = 0.0
        if value:
            specs.append((value.lower(), q))
    for offer in (MEDIA_NDJSON, MEDIA_JSON_SEQ):
        for value, q in specs:
            if q == 0 or q < best_q:
                continue
            if value == "*/*":
                wild, matches = 2, True
            elif value.endswith("/*"):
                wild, matches = 1, offer.startswith(value[:-1])
            else:
                wild, matches = 0, value == offer
            if matches and (q > best_q or best_wild > wild):
                best, best_q, best_wild = offer, q, wild
    return best


class Listener:
    """One /events connection: a bounded queue; None ends the stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue(LISTENER_QUEUE + 1)
        self.dropped = False

    def offer(self, item: Item | None) -> None:
        if self.dropped:
            return
        if item is not None and self.queue.qsize() >= LISTENER_QUEUE:
            self.dropped = True
            item = None
        self.queue.put_nowait(item)


class EventLog:
    def __init__(self, limit: int) -> None:
        self._buffer: deque[Item] = deque(maxlen=limit)
        self._listeners: set[Listener] = set()

    def publish(self, event: JSON) -> None:
        item = Item(event)
        self._buffer.append(item)
        for listener in self._listeners:
            listener.offer(item)

    def subscribe(self) -> tuple[Listener, list[Item]]:
        """Register and copy the buffer in one step, so replay and live stream neither overlap nor gap."""
        listener = Listener()
        self._listeners.add(listener)
        return listener, list(self._buffer)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def close_all(self) -> None:
        for listener in self._listeners:
            listener.offer(None)


def labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, _, value = item.partition("=")
        if key not in labels or ("=" in item and labels[key] != value):
            return False
    return True


def event_filter(filters: dict[str, list[str]]) -> Callable[[JSON], bool]:
    """Docker's rules: every key narrows; a name-like key matches the actor's ID or name by prefix."""

    def match(event: JSON) -> bool:
        actor = event["Actor"]
        for key, values in filters.items():
            if key == "type" and event["Type"] not in values:
                return False
            if key == "event" and event["Action"] not in values:
                return False
            if key == "scope" and event["scope"] not in values:
                return False
            if key == "label" and not labels_match(actor["Attributes"], values):
                return False
            if key in NAMED_EVENT_FILTERS:
                names = (actor["ID"], actor["Attributes"].get("name", ""))
                if event["Type"] != key or not any(n.startswith(v) for n in names for v in values):
                    return False
        return True

    return match


def timestamp(raw: str | None) -> int | None:
    """``since``/``until`` as Docker takes them here: seconds, optionally ``.nanoseconds``."""
    if raw is None or raw == "":
        return None
    seconds, _, fraction = raw.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise ApiError(500, f'strconv.ParseInt: parsing "{raw}": invalid syntax')
    return int(seconds) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))


def check_window(since: int | None, until: int | None, raw: Any) -> None:
    if since is not None and until is not None and until < since:
        raise ApiError(400, f"`since` time ({raw['since']}) cannot be after `until` time ({raw['until']})")


async def live(listener: Listener, until: int | None) -> AsyncIterator[Item]:
    """Events as they come, until ``until`` (nanoseconds, wall clock) or the simulator stops."""
    while True:
        timeout = None if until is None else (until - time.time_ns()) / 1e9
        if timeout is not None and timeout < 0:
            return
        try:
            async with asyncio.timeout(timeout):
                item = await listener.queue.get()
        except TimeoutError:
            return
        if item is None:
            return
        if until is not None and item.when > until:
            return
        yield item
