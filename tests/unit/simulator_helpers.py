"""What the bench.simulator tests share: a simulator served on a short socket path, its fixtures, requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import pytest

from bench.simulator import Simulator
from dashboard.core.docker import DockerClient, Endpoint, Event

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def serving(sim: Simulator) -> AsyncIterator[str]:
    """A short socket path: unix socket paths are limited to 108 bytes, pytest's tmp_path is long."""
    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    path = f"{folder}/docker.sock"
    await sim.start(path)
    try:
        yield path
    finally:
        await sim.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(nodes=6, tasks=60, managers=3, seed=7, step_delay=0)
    async with serving(simulator):
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[DockerClient]:
    async with DockerClient(Endpoint(host="unix://" + sim.socket_path)) as docker:
        yield docker


@pytest.fixture
async def sim29() -> AsyncIterator[Simulator]:
    simulator = Simulator(nodes=3, tasks=12, managers=1, seed=7, step_delay=0, engine="29", log_interval=0.05)
    async with serving(simulator):
        yield simulator


async def raw(path: str, socket_path: str) -> tuple[int, Any, Any]:
    """GET a path as-is: status, parsed JSON (or text) and headers."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as session,
        session.get("http://docker" + path) as response,
    ):
        body = await response.read()
        streamed = path.split("?")[0].endswith("/events")  # JSON lines, not one document
        parsed = json.loads(body) if response.content_type == "application/json" and not streamed else body.decode()
        return response.status, parsed, response.headers


@contextlib.asynccontextmanager
async def event_stream(client: DockerClient, since: int, *, liveness: float = 5) -> AsyncIterator[AsyncIterator[Event]]:
    """client.events without its silence ticks, closed on the way out even when a test stops reading early."""
    raw = cast(AsyncGenerator[Event | None, None], client.events(since=since, liveness=liveness))

    async def events() -> AsyncIterator[Event]:
        async for event in raw:
            if event is not None:
                yield event

    try:
        yield events()
    finally:
        await raw.aclose()


def filters(**values: list[str]) -> str:
    return quote(json.dumps({k.replace("_", "-"): v for k, v in values.items()}))


async def first_event(
    client: DockerClient, since: int, wanted: Callable[[Event], bool], *, timeout: float = 5
) -> tuple[Event, list[Event]]:
    """Read /events from ``since`` until an event is ``wanted``; returns it and every event before it."""
    before: list[Event] = []
    async with asyncio.timeout(timeout), event_stream(client, since) as events:
        async for event in events:
            if wanted(event):
                return event, before
            before.append(event)
    raise AssertionError("the event stream ended")


def on_node(sim: Simulator, node_id: str) -> str:
    """A running task of a replicated service on ``node_id``."""
    for task_id in sim.task_ids(node_id=node_id, state="running"):
        if "Slot" in sim.task(task_id):
            return task_id
    raise AssertionError(f"no running replicated task on {node_id}")


async def call(
    socket_path: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    """Any request: status, headers and the raw body (``body`` goes as JSON unless it is bytes)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as session,
        session.request(method, "http://docker" + path, data=data, headers=headers or {}) as response,
    ):
        return response.status, response.headers, await response.read()


def frames(body: bytes) -> list[tuple[int, str]]:
    """Docker's multiplexed stream: 8-byte headers (stream, 0, 0, 0, big-endian size), then the payload."""
    out = []
    while body:
        assert len(body) >= 8 and body[1:4] == b"\0\0\0", f"not a frame header: {body[:8]!r}"
        size = int.from_bytes(body[4:8], "big")
        out.append((body[0], body[8 : 8 + size].decode()))
        body = body[8 + size :]
    return out


def now() -> str:
    """Now as /events takes ``since`` and ``until``: seconds with nine decimals."""
    return f"{time.time_ns() / 1e9:.9f}"


def past_events(version: str = "") -> str:
    return f"{version}/events?since=0&until={now()}"


async def settled(check: Callable[[], bool], timeout: float = 5) -> None:
    """Poll ``check`` until it holds; bounded."""
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)
