"""Many websocket viewers of /ws/swarm in one process of their own, driven by JSON lines on stdin.

Each viewer is an aiohttp websocket, signed in (the session cookie, an Origin header), offering
permessage-deflate as browsers do, reading every frame and keeping its model's epoch and seq as the
page does (``book.Viewer``: a gap or another epoch asks for the model again). A dropped socket
reconnects as the page does (static/dashboard/live.js): after 0.5 s doubling, at most 1 s apart
for the first 15 s without a model and at most 10 s after that, plus up to 0.25 s at random; at
once after 4408; a connection not open within 10 s is given up. Arrival times are
``time.monotonic()`` (CLOCK_MONOTONIC, the same clock in every process of the machine), taken before
the frame is parsed. One answer (a JSON line on stdout) per command:

    {"op": "open", "url": U, "cookie": C, "count": n, "concurrency": k, "timeout": s}
        -> n more viewers (k connecting at a time; 0: all at once), answered once every one holds a
           model, or after ``timeout``: {"started", "loaded", "wanted", "load_seconds", "errors", ...}
    {"op": "mark"}                      -> arrivals are recorded from now on (earlier ones forgotten)
    {"op": "arrivals", "publish": {"EPOCH:SEQ": t}}
        -> {"seqs": {"EPOCH:SEQ": [count, first, last]}, "hist": {ms: n}}: the histogram of
           (arrival - publish) over every arrival of a patch named in ``publish``
    {"op": "status"}                    -> the viewers' counters, bytes read, closes by code
    {"op": "close"}                     -> every socket closed
    {"op": "stop"}                      -> {} and the process ends

    python -m bench.scale_out.fleet
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.scale_out.book import Frame, Histogram, Viewer, read_frame

CONNECT_TIMEOUT = 10.0  # live.js CONNECT_TIMEOUT
BACKOFF_FIRST, BACKOFF_SOON, BACKOFF_MAX = 0.5, 1.0, 10.0  # live.js, in seconds
STALE_BOUND = 15.0  # live.js: three heartbeats (SWARM_HEARTBEAT_SECONDS 5)
CLOSE_TOO_SLOW = 4408
RESYNC = '{"type":"resync"}'
ENDED = {4401, 4403}  # signed out, forbidden: a page stops reconnecting


@dataclass
class Socket:
    viewer: Viewer = field(default_factory=Viewer)
    opened_at: float = 0.0
    loaded_at: float | None = None
    payload: int = 0
    frames: int = 0
    connects: int = 0
    ended: bool = False
    backoff: float = BACKOFF_FIRST
    down_since: float | None = None  # since when it has held no live socket with a model
    done: asyncio.Event = field(default_factory=asyncio.Event)  # it holds a model, or gave up
    parts_left: int = 0  # binary parts of a packed model still to come (?pack=1, as pages ask)
    held: Frame | None = None  # the packed model's header, taken once its parts are in


_PACKED = re.compile(rb'"packed":(\d+)')


def retry_after(sock: Socket, now: float) -> float:
    """live.js ``dropped()``: the wait before the next try, and the backoff after it."""
    if sock.down_since is None:
        sock.down_since = now
    cap = BACKOFF_SOON if now - sock.down_since < STALE_BOUND else BACKOFF_MAX
    wait = min(sock.backoff, cap)
    sock.backoff = min(max(sock.backoff * 2, BACKOFF_FIRST), cap)
    return wait


def raise_open_files() -> int:
    """As many open files as the hard limit allows: thousands of sockets need more than 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Fleet:
    def __init__(self) -> None:
        self.sockets: list[Socket] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)
        self.recording = False
        self.stopping = False
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # limit=0: websockets are not pooled, and the default (100) would queue the 101st connect
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))

    async def open(self, url: str, cookie: str, count: int, concurrency: int, timeout: float) -> dict[str, Any]:
        # as the pages ask: heartbeats, and the model packed (a header, then binary parts)
        ws_url = url.replace("http://", "ws://") + "/ws/swarm?heartbeat=1&pack=1"
        headers = {"Cookie": cookie, "Origin": url}
        gate = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        started = time.monotonic()
        mine = [Socket() for _ in range(count)]
        self.sockets += mine
        self.tasks += [asyncio.create_task(self._run(s, ws_url, headers, gate)) for s in mine]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in mine)), timeout)
        loads = sorted(s.loaded_at - started for s in mine if s.loaded_at is not None)
        return {
            "started": started,
            "wanted": count,
            "loaded": len(loads),
            "last_loaded": max((s.loaded_at for s in mine if s.loaded_at is not None), default=None),
            "load_seconds": loads[:: max(1, len(loads) // 200)] + loads[-1:],  # a sample, and the last
            "payload": sum(s.payload for s in mine),
            "errors": dict(self.errors),
            "closes": dict(self.closes),
        }

    async def _run(self, sock: Socket, url: str, headers: dict[str, str], gate: asyncio.Semaphore | None) -> None:
        assert self.session is not None
        while not self.stopping and not sock.ended:
            try:
                async with gate if gate is not None else contextlib.nullcontext():
                    sock.opened_at = time.monotonic()
                    ws = await asyncio.wait_for(
                        self.session.ws_connect(
                            url, headers=headers, max_msg_size=0, compress=15, autoping=True, decode_text=False
                        ),
                        CONNECT_TIMEOUT,
                    )
                sock.connects += 1
                try:
                    await self._read(sock, ws)
                finally:
                    await ws.close()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # counted, and the viewer tries again as a page would
                self.errors[f"{type(e).__name__}: {str(e)[:80]}"] += 1
            if not self.stopping and not sock.ended:
                await asyncio.sleep(retry_after(sock, time.monotonic()) + random.random() * 0.25)

    async def _read(self, sock: Socket, ws: Any) -> None:
        viewer = sock.viewer
        while True:
            msg = await ws.receive()
            now = time.monotonic()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                sock.payload += len(data)
                sock.frames += 1
                if msg.type == aiohttp.WSMsgType.BINARY:  # a part of a packed model
                    sock.parts_left = max(0, sock.parts_left - 1)
                    if sock.parts_left or sock.held is None:
                        continue
                    frame, sock.held = sock.held, None  # the whole model is in: the page installs it
                else:
                    frame = read_frame(data)
                    packed = _PACKED.search(data, 0, 2000) if frame.type == "snapshot" else None
                    if packed is not None and int(packed.group(1)) > 0:
                        sock.parts_left, sock.held = int(packed.group(1)), frame
                        continue
                had_model = viewer.loaded
                arrived, resync = viewer.take(frame)
                if arrived and self.recording:
                    self.arrivals[f"{frame.epoch}:{frame.seq}"].append(now)
                if viewer.loaded and not had_model:
                    sock.loaded_at = now
                    sock.done.set()
                if frame.type in ("snapshot", "tasks") and not frame.more:
                    sock.backoff, sock.down_since = BACKOFF_FIRST, None  # a model installed
                if resync:
                    await ws.send_str(RESYNC)
                continue
            code = ws.close_code
            self.closes[str(code if code is not None else msg.type.name)] += 1
            if code == CLOSE_TOO_SLOW:
                sock.backoff = 0.0  # the page reconnects at once
            if code in ENDED:
                sock.ended = True
                sock.done.set()
            return

    def mark(self) -> dict[str, Any]:
        self.arrivals.clear()
        self.recording = True
        return {}

    def collect(self, publish: dict[str, float]) -> dict[str, Any]:
        hist = Histogram()
        seqs = {}
        for key, times in self.arrivals.items():
            seqs[key] = [len(times), min(times), max(times)]
            if key in publish:
                t0 = publish[key]
                hist.extend(t - t0 for t in times)
        return {"seqs": seqs, "hist": hist.to_json()}

    def status(self) -> dict[str, Any]:
        viewers = [s.viewer for s in self.sockets]
        counters = ("models", "patches", "stale", "gaps", "foreign", "heartbeats", "other")
        return {
            "sockets": len(self.sockets),
            "loaded": sum(1 for v in viewers if v.loaded),
            "connects": sum(s.connects for s in self.sockets),
            "payload": sum(s.payload for s in self.sockets),
            "frames": sum(s.frames for s in self.sockets),
            **{k: sum(getattr(v, k) for v in viewers) for k in counters},
            "errors": dict(self.errors),
            "closes": dict(self.closes),
        }

    async def close(self) -> dict[str, Any]:
        self.stopping = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        answer = self.status()
        self.tasks, self.sockets = [], []
        self.stopping = False
        return answer

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command.get("op")
        if op == "open":
            return await self.open(
                str(command["url"]), str(command["cookie"]), int(command["count"]),
                int(command.get("concurrency", 0)), float(command.get("timeout", 60)),
            )  # fmt: skip
        if op == "mark":
            return self.mark()
        if op == "arrivals":
            return self.collect({str(k): float(v) for k, v in dict(command.get("publish") or {}).items()})
        if op == "status":
            return self.status()
        if op == "close":
            return await self.close()
        return {"error": f"unknown op {op!r}"}


async def _serve() -> None:
    fleet = Fleet()
    await fleet.start()
    print(json.dumps({"ready": True, "open_files": raise_open_files()}), flush=True)
    try:
        for _ in range(1_000_000):
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break  # the driver went away
            command = json.loads(line)
            if command.get("op") == "stop":
                print("{}", flush=True)
                break
            try:
                answer = await fleet.handle(command)
            except (KeyError, ValueError, TypeError) as e:
                answer = {"error": str(e)}
            print(json.dumps(answer), flush=True)
    finally:
        await fleet.close()
        assert fleet.session is not None
        await fleet.session.close()


def main() -> int:
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
