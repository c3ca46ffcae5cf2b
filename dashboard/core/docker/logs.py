"""Docker's log streams: the 8-byte frame headers (stream, size) of a task without a TTY, raw
bytes for one with a TTY, cut into timestamped lines.

A stream can end anywhere: a daemon that dies or a connection that drops between two bytes of a
header or inside a payload, a TTY task whose whole output is a few bytes. The decoder never raises
for that: it yields what arrived, and marks the last line ``cut`` when the stream ended inside a
frame. Errors of the transport itself still propagate, after what arrived before them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

open_streams = 0  # log streams open to Docker in this process (a gauge for tests and metrics)
READ_BYTES = 64 * 1024
# a line longer than this is cut into several: a TTY task printing without a newline (a progress
# bar, a binary) must not grow the decoder's memory, the socket's messages or the page
MAX_LINE_BYTES = 64 * 1024
# what a reader tells its user about a stream whose last line is ``cut``
CUT_NOTICE = "the log stream was cut short inside a line: the last line may be incomplete"


@dataclass(frozen=True, slots=True)
class LogLine:
    stream: str  # "stdout" | "stderr"
    ts: str  # Docker's RFC 3339 timestamp, "" when the line had none
    text: str
    # the stream ended inside this line's frame: it is the last line, maybe incomplete (its text
    # empty when only part of a frame header came)
    cut: bool = False
    # the line was longer than MAX_LINE_BYTES: this piece ends at that bound, the next goes on with it
    split: bool = False


class ByteStream(Protocol):
    """What the decoder reads: aiohttp's StreamReader (a response's content) or asyncio's."""

    async def read(self, n: int = -1) -> bytes: ...


class _Input:
    """The stream's bytes as they come; ``more`` reads what the transport has, False at the end."""

    def __init__(self, content: ByteStream) -> None:
        self.content = content
        self.data = bytearray()

    async def more(self) -> bool:
        chunk = await self.content.read(READ_BYTES)
        self.data += chunk
        return bool(chunk)


async def demultiplex(content: ByteStream) -> AsyncIterator[LogLine]:
    """Docker's log stream: 8-byte frame headers (stream, size) unless the task has a TTY (raw)."""
    source = _Input(content)
    raw = _raw_mode(source.data)
    while raw is None:
        if not await source.more():
            if source.data:  # a few bytes, all of them the start of a header: cut short
                yield LogLine(stream="stdout", ts="", text="", cut=True)
            return
        raw = _raw_mode(source.data)
    async with contextlib.aclosing(_raw_lines(source) if raw else _frame_lines(source)) as lines:
        async for line in lines:
            yield line


def _raw_mode(start: bytes | bytearray) -> bool | None:
    """True once the first bytes cannot begin a frame header, False once they are one, None until told.

    A header is a stream byte (0 stdin, 1 stdout, 2 stderr, 3 Docker's own error, e.g. "Error
    grabbing logs" for a task never scheduled), three zero bytes, then the size: a TTY task's
    output shows itself by its first byte almost always, so even "hi" needs no more.
    """
    if start[:1] and start[0] not in (0, 1, 2, 3):
        return True
    if any(start[1:4]):
        return True
    return False if len(start) >= 8 else None


async def _raw_lines(source: _Input) -> AsyncGenerator[LogLine, None]:
    pending = source.data  # already holds the bytes that told the mode
    while True:
        for line in _complete_lines(pending, "stdout"):
            yield line
        try:
            if not await source.more():
                break
        except Exception:
            if pending:
                yield _log_line("stdout", bytes(pending), cut=True)
            raise
    if pending:
        yield _log_line("stdout", bytes(pending))


async def _frame_lines(source: _Input) -> AsyncGenerator[LogLine, None]:
    data = source.data
    pending = bytearray()  # the current frame's line not yet ended
    stream = "stdout"
    try:
        while True:
            while len(data) < 8:
                if not await source.more():
                    if data:  # a header cut short
                        yield LogLine(stream="stderr" if data[0] >= 2 else "stdout", ts="", text="", cut=True)
                    return
            stream = "stderr" if data[0] >= 2 else "stdout"  # 3: Docker's own error, told as stderr
            size = int.from_bytes(data[4:8], "big")
            del data[:8]
            while size:
                if not data and not await source.more():
                    yield _log_line(stream, bytes(pending), cut=True)  # a payload cut short
                    return
                take = min(size, len(data))
                pending += data[:take]
                del data[:take]
                size -= take
                for line in _complete_lines(pending, stream):
                    yield line
            if pending:  # a frame is one log message: its last line ends with it, newline or not
                yield _log_line(stream, bytes(pending))
                pending.clear()
    except Exception:
        if pending:
            yield _log_line(stream, bytes(pending), cut=True)
        raise


def _complete_lines(pending: bytearray, stream: str) -> list[LogLine]:
    """The lines ``pending`` holds up to its last newline, and lines too long cut at MAX_LINE_BYTES;
    removed from it. What is left is shorter than MAX_LINE_BYTES and holds no newline."""
    lines = []
    start = 0
    while True:
        newline = pending.find(b"\n", start, start + MAX_LINE_BYTES + 1)
        if newline >= 0:
            lines.append(_log_line(stream, bytes(pending[start:newline])))
            start = newline + 1
        elif len(pending) - start > MAX_LINE_BYTES:
            end = _char_boundary(pending, start + MAX_LINE_BYTES)
            lines.append(_log_line(stream, bytes(pending[start:end]), split=True))
            start = end
        else:
            break
    del pending[:start]
    return lines


def _char_boundary(data: bytearray, at: int) -> int:
    """``at``, moved back to the start of the UTF-8 character it falls in (at most 3 bytes back)."""
    for back in range(4):
        if at - back > 0 and data[at - back] & 0xC0 != 0x80:
            return at - back
    return at


def _log_line(stream: str, raw: bytes, *, cut: bool = False, split: bool = False) -> LogLine:
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    ts, sep, rest = text.partition(" ")
    if sep and len(ts) >= 20 and ts[4:5] == "-" and ts[10:11] == "T":
        return LogLine(stream=stream, ts=ts, text=rest, cut=cut, split=split)
    return LogLine(stream=stream, ts="", text=text, cut=cut, split=split)
