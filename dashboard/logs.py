"""Docker's log streams: the 8-byte frame headers (stream, size) of a task without a TTY, raw
bytes for one with a TTY, cut into timestamped lines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class LogLine:
    stream: str  # "stdout" | "stderr"
    ts: str  # Docker's RFC 3339 timestamp, "" when the line had none
    text: str


async def demultiplex(content: aiohttp.StreamReader) -> AsyncIterator[LogLine]:
    """Docker's log stream: 8-byte frame headers (stream, size) unless the task has a TTY (raw)."""
    header = await content.readexactly(8) if not content.at_eof() else b""
    raw_mode = len(header) == 8 and (header[0] not in (0, 1, 2) or header[1:4] != b"\0\0\0")
    if raw_mode:
        pending = header
        while True:
            pending += await content.read(65536)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield _log_line("stdout", line)
            if content.at_eof():
                if pending:
                    yield _log_line("stdout", pending)
                return
    while len(header) == 8:
        size = int.from_bytes(header[4:8], "big")
        payload = await content.readexactly(size)
        stream = "stderr" if header[0] == 2 else "stdout"
        for line in payload.rstrip(b"\n").split(b"\n"):
            yield _log_line(stream, line)
        try:
            header = await content.readexactly(8)
        except asyncio.IncompleteReadError:
            return


def _log_line(stream: str, raw: bytes) -> LogLine:
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    ts, sep, rest = text.partition(" ")
    if sep and len(ts) >= 20 and ts[4:5] == "-" and ts[10:11] == "T":
        return LogLine(stream=stream, ts=ts, text=rest)
    return LogLine(stream=stream, ts="", text=text)
