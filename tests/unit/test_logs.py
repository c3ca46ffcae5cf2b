"""Docker's log stream decoded from an aiohttp.StreamReader fed the way a network feeds it: a byte at a
time, in odd splits, cut short, or broken by the transport. The decoder never raises on a short stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol

from dashboard.core.docker.logs import MAX_LINE_BYTES, LogLine, demultiplex

TS = "2026-03-01T10:20:30.123456789Z"


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def out(text: str, ts: str = "", *, cut: bool = False) -> LogLine:
    return LogLine(stream="stdout", ts=ts, text=text, cut=cut)


def err(text: str, ts: str = "", *, cut: bool = False) -> LogLine:
    return LogLine(stream="stderr", ts=ts, text=text, cut=cut)


def reader() -> aiohttp.StreamReader:
    """A response body's reader as aiohttp makes it, fed here instead of by its HTTP parser."""
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.connection_made(asyncio.Transport())  # connected: a read waits for data instead of refusing
    return aiohttp.StreamReader(protocol, 2**22, loop=loop)  # a limit no test reaches: no flow control


async def decode(
    chunks: Iterable[bytes], *, error: BaseException | None = None, into: list[LogLine] | None = None
) -> list[LogLine]:
    """Every line of the stream made of ``chunks``, each fed once the decoder has read what came before;
    the stream then ends, or breaks with ``error``."""
    content = reader()
    lines = [] if into is None else into

    async def settle() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    async def feed() -> None:
        for chunk in chunks:
            await settle()
            content.feed_data(chunk)
        await settle()
        if error is None:
            content.feed_eof()
        else:
            content.set_exception(error)

    feeder = asyncio.create_task(feed())
    try:
        async with asyncio.timeout(10):
            async for line in demultiplex(content):
                lines.append(line)
    finally:
        await feeder
    return lines


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def splits(data: bytes) -> Iterable[list[bytes]]:
    """The stream whole, a byte at a time, and cut in two and three at many places."""
    yield [data]
    yield bytewise(data)
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    for i in range(1, len(data), 5):
        for j in range(i + 1, len(data), 7):
            yield [data[:i], data[i:j], data[j:]]


MULTIPLEXED = (
    frame(1, f"{TS} first line\n".encode())
    + frame(2, f"{TS} an error\n".encode())
    + frame(1, f"{TS} two\n{TS} lines\n".encode())
)
MULTIPLEXED_LINES = [out("first line", TS), err("an error", TS), out("two", TS), out("lines", TS)]


async def test_it_decodes_multiplexed_frames_however_the_bytes_arrive() -> None:
    for chunks in splits(MULTIPLEXED):
        assert await decode(chunks) == MULTIPLEXED_LINES, [len(c) for c in chunks]


async def test_it_reads_a_tty_task_whose_whole_output_is_under_eight_bytes() -> None:
    for data in (b"hi\n", b"hi", b"hi\r\n", b"x"):
        for chunks in splits(data):
            assert await decode(chunks) == [out(data.decode().strip())], chunks


async def test_it_reads_a_tty_stream_with_timestamps_in_any_split() -> None:
    data = f"{TS} hi\r\n{TS} \x1b[1mbold\x1b[0m\r\n{TS} no newline".encode()
    expected = [out("hi", TS), out("\x1b[1mbold\x1b[0m", TS), out("no newline", TS)]
    for chunks in splits(data):
        assert await decode(chunks) == expected


async def test_it_tells_raw_mode_from_the_first_bytes_without_waiting_for_eight() -> None:
    content = reader()
    lines = demultiplex(content)
    content.feed_data(b"hi\n")  # a TTY task that printed one short line and is still running
    async with asyncio.timeout(2):
        assert await anext(lines) == out("hi")
    content.feed_data(b"\x01\x00\x00\x00more\n")  # raw stays raw, whatever bytes come later
    content.feed_eof()
    assert [line async for line in lines] == [out("\x01\x00\x00\x00more")]


async def test_it_ends_an_empty_stream_cleanly_even_when_the_end_comes_late() -> None:
    assert await decode([]) == []
    assert await decode([b""]) == []


async def test_it_yields_what_arrived_of_a_payload_cut_short() -> None:
    whole = frame(1, f"{TS} complete\n{TS} half a li".encode() + b"ne never sent\n")
    data = whole[: whole.index(b"half a li") + len(b"half a li")]
    for chunks in ([data], bytewise(data), [data[:5], data[5:40], data[40:]]):
        assert await decode(chunks) == [out("complete", TS), out("half a li", TS, cut=True)]


async def test_it_ends_cleanly_on_a_header_cut_short_and_says_the_stream_was_cut() -> None:
    whole = frame(2, f"{TS} last whole frame\n".encode()) + frame(1, b"never sent")
    for cut_at in range(1, 8):
        data = whole[: len(frame(2, f"{TS} last whole frame\n".encode())) + cut_at]
        for chunks in ([data], bytewise(data)):
            assert await decode(chunks) == [err("last whole frame", TS), out("", cut=True)], cut_at


async def test_it_ends_cleanly_when_only_part_of_the_first_header_came() -> None:
    for data in (b"\x01", b"\x02\x00", b"\x01\x00\x00\x00", b"\x01\x00\x00\x00\x00\x00\x01"):
        for chunks in splits(data):
            assert await decode(chunks) == [out("", cut=True)], chunks


async def test_it_yields_what_arrived_before_the_transport_broke_then_raises_the_transport_error() -> None:
    data = frame(1, f"{TS} whole\n".encode()) + frame(2, f"{TS} part of a line".encode() + b" that never came")
    data = data[: data.index(b"part of a line") + len(b"part of a line")]
    for chunks in ([data], bytewise(data)):
        lines: list[LogLine] = []
        with pytest.raises(aiohttp.ClientPayloadError):
            await decode(chunks, error=aiohttp.ClientPayloadError("Response payload is not completed"), into=lines)
        assert lines == [out("whole", TS), err("part of a line", TS, cut=True)]


async def test_it_cuts_a_tty_line_that_never_ends_so_memory_stays_bounded() -> None:
    content = reader()
    got: list[LogLine] = []

    async def consume() -> None:
        async for line in demultiplex(content):
            got.append(line)

    consumer = asyncio.create_task(consume())
    chunk, sent = b"y" * 4096, 0
    while not got:  # a TTY task printing without a newline, its stream still open
        assert sent <= 4 * MAX_LINE_BYTES, "no line came out: the decoder holds everything it read"
        content.feed_data(chunk)
        sent += len(chunk)
        for _ in range(3):
            await asyncio.sleep(0)
    # cut at the bound and marked: the line goes on in the next piece
    assert got[0] == LogLine(stream="stdout", ts="", text="y" * MAX_LINE_BYTES, split=True)
    content.feed_data(b"tail\n")
    content.feed_eof()
    async with asyncio.timeout(5):
        await consumer
    assert all(len(line.text) <= MAX_LINE_BYTES for line in got)
    assert "".join(line.text for line in got) == "y" * sent + "tail"
    assert [line.split for line in got] == [True] * (len(got) - 1) + [False]  # the piece with the newline ends it


async def test_it_cuts_a_long_line_on_a_character_boundary() -> None:
    text = "a" + "é" * MAX_LINE_BYTES  # two bytes each after one: a cut falls inside a character unless moved
    lines = await decode([text.encode()[i : i + 1000] for i in range(0, len(text.encode()), 1000)])
    assert "".join(line.text for line in lines) == text
    assert all(len(line.text.encode()) <= MAX_LINE_BYTES for line in lines)


async def test_it_bounds_a_huge_multiplexed_frame_too() -> None:
    payload = f"{TS} ".encode() + b"z" * (3 * MAX_LINE_BYTES) + b"\n"
    data = frame(1, payload) + frame(2, f"{TS} after\n".encode())
    lines = await decode([data[i : i + 8192] for i in range(0, len(data), 8192)])
    assert all(len(line.text) <= MAX_LINE_BYTES for line in lines)
    assert lines[0].ts == TS
    assert "".join(line.text for line in lines[:-1]) == "z" * (3 * MAX_LINE_BYTES)
    assert [line.split for line in lines[:-1]] == [True] * (len(lines) - 2) + [False]
    assert lines[-1] == err("after", TS)


async def test_it_keeps_empty_lines_and_carriage_returns_out_of_the_text() -> None:
    data = frame(1, f"{TS} a\r\n".encode()) + frame(1, b"\n") + frame(1, b"")
    assert await decode(bytewise(data)) == [out("a", TS), out("")]


async def test_it_reads_dockers_own_error_frame_as_stderr() -> None:
    # stream 3: what Docker sends for a task never scheduled (seen on 20.10), not a TTY's raw bytes
    grabbing = b"Error grabbing logs: task x has not been scheduled\n"
    assert await decode([frame(3, grabbing)]) == [err("Error grabbing logs: task x has not been scheduled")]
