"""What a bench viewer keeps, with no I/O: frames read cheaply, one viewer's seq bookkeeping as the
page keeps it (static/dashboard/live.js), and latency histograms that several processes can merge."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A patch is ~700 B and is read whole; a chunk of the model (up to ~500 KB) only by its head and its
# ``more`` flag: 1,000 viewers of a 20,000-task swarm would otherwise parse 11 GB of JSON.
READ_WHOLE_BELOW = 64 * 1024
_HEAD = re.compile(rb'"(type|seq|epoch|base_seq)":(?:"(\w+)"|(-?\d+))')
_MORE = b'"more":true'  # a JSON string cannot hold an unescaped quote: this is only ever the key


@dataclass(frozen=True, slots=True)
class Frame:
    type: str
    seq: int | None = None
    epoch: int | None = None
    base_seq: int | None = None
    more: bool = False


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_frame(data: bytes) -> Frame:
    """The fields the bookkeeping needs of one text frame (as bytes, undecoded)."""
    if len(data) < READ_WHOLE_BELOW:
        try:
            message = json.loads(data)
        except ValueError:
            return Frame("unreadable")
        if not isinstance(message, dict):
            return Frame("unreadable")
        return Frame(
            str(message.get("type", "?")),
            _int(message.get("seq")),
            _int(message.get("epoch")),
            _int(message.get("base_seq")),
            message.get("more") is True,
        )
    head: dict[str, bytes] = {}
    for match in _HEAD.finditer(data, 0, 400):  # the model's chunks start with type, seq, epoch
        head.setdefault(match.group(1).decode(), match.group(2) or match.group(3))
    if "type" not in head:
        return Frame("unreadable")

    def number(key: str) -> int | None:
        value = head.get(key)
        return int(value) if value is not None and value.lstrip(b"-").isdigit() else None

    return Frame(head["type"].decode(), number("seq"), number("epoch"), number("base_seq"), _MORE in data)


@dataclass
class Viewer:
    """One viewer's model, as the page keeps it: the epoch and seq it holds, and what it saw.

    ``take`` answers (arrived, resync): whether the frame is a patch this viewer hears for the first
    time (its arrival is a delivery to time), and whether it must ask for the model again (another
    epoch, or a seq gap), as the page does."""

    epoch: int | None = None
    seq: int = -1
    heard: int = -1  # the highest patch seq heard in this epoch (arrivals are counted once)
    awaiting: bool = True  # no model yet, or a resync asked for
    models: int = 0  # whole models received (the last chunk of a snapshot)
    patches: int = 0  # applied in order
    stale: int = 0  # older than the model held (queued before a resync): dropped
    gaps: int = 0
    foreign: int = 0  # another epoch's patch
    heartbeats: int = 0
    other: int = 0

    @property
    def loaded(self) -> bool:
        return self.models > 0

    def take(self, frame: Frame) -> tuple[bool, bool]:
        if frame.type == "snapshot":
            if frame.epoch != self.epoch:
                self.heard = -1
            self.epoch = frame.epoch
            self.seq = frame.seq if frame.seq is not None else -1
            self._chunk(frame)
            return False, False
        if frame.type == "tasks":
            self._chunk(frame)
            return False, False
        if frame.type == "heartbeat":
            self.heartbeats += 1
            return False, False
        if frame.type != "patch" or frame.seq is None:
            self.other += 1
            return False, False
        if frame.epoch != self.epoch:
            self.foreign += 1
            return False, self._ask()
        arrived = frame.seq > self.heard
        self.heard = max(self.heard, frame.seq)
        if self.awaiting:
            return arrived, False
        if frame.seq <= self.seq:
            self.stale += 1
            return arrived, False
        if frame.base_seq != self.seq:
            self.gaps += 1
            return arrived, self._ask()
        self.patches += 1
        self.seq = frame.seq
        return arrived, False

    def _chunk(self, frame: Frame) -> None:
        if not frame.more:
            self.models += 1
            self.awaiting = False

    def _ask(self) -> bool:
        if self.awaiting:
            return False  # one resync at a time
        self.awaiting = True
        return True


class Histogram:
    """Latencies in whole milliseconds, counted: exact to 1 ms, and processes' histograms add up."""

    def __init__(self, counts: Mapping[int | str, int] | None = None) -> None:
        self.counts: Counter[int] = Counter({int(k): int(v) for k, v in (counts or {}).items()})

    def add(self, seconds: float) -> None:
        self.counts[max(0, round(seconds * 1000))] += 1

    def extend(self, seconds: Iterable[float]) -> None:
        for s in seconds:
            self.add(s)

    def merge(self, other: Histogram) -> None:
        self.counts.update(other.counts)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (q in 0..100) in milliseconds; None when empty."""
        n = self.n
        if n == 0:
            return None
        rank = max(1, min(n, round(q / 100 * n + 0.5)))
        seen = 0
        for ms in sorted(self.counts):
            seen += self.counts[ms]
            if seen >= rank:
                return float(ms)
        raise AssertionError("unreachable: the ranks add up to n")

    def to_json(self) -> dict[str, int]:
        return {str(k): v for k, v in sorted(self.counts.items())}
