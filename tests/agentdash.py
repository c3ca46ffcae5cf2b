"""A stand-in for the dashboard's side of /ws/agent, for the agent's tests and benchmark: an aiohttp
server on loopback, in a thread of its own, that checks the bearer token (close 4401 when it is not
the one expected, as the dashboard does), welcomes the agent and records everything it says."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from dashboard.agent.messages import AGENT_CLOSE_TOKEN, AGENT_PATH

ROOT = Path(__file__).resolve().parents[1]


class AgentDashboard:
    """``start()``/``stop()`` may be repeated on the same port (a dashboard restart)."""

    def __init__(self, token: str, *, port: int = 0, stats_every: float = 1.0) -> None:
        self.token, self.port, self.stats_every = token, port, stats_every
        self.messages: list[dict[str, Any]] = []  # every message, in arrival order, of every link
        self.links = 0  # handshakes seen (refused ones too)
        self.refused = 0
        self.bytes_by_type: dict[str, int] = {}
        self.authorizations: list[str] = []  # the Authorization headers seen
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> AgentDashboard:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="agent-dashboard", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the recording dashboard did not start within 10s")
        return self

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get(AGENT_PATH, self._agent)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        """Stops serving and closes every link (the agent sees its socket drop)."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._loop = self._thread = None

    async def _agent(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        authorization = request.headers.get("Authorization", "")
        with self._changed:
            self.links += 1
            self.authorizations.append(authorization)
            self._changed.notify_all()
        if authorization != f"Bearer {self.token}":
            with self._changed:
                self.refused += 1
                self._changed.notify_all()
            await ws.close(code=AGENT_CLOSE_TOKEN, message=b"token refused")
            return ws
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            message = json.loads(msg.data)
            if message.get("type") == "hello":
                await ws.send_str(json.dumps({"type": "welcome", "stats_every": self.stats_every}))
            with self._changed:
                self.messages.append(message)
                kind = str(message.get("type"))
                self.bytes_by_type[kind] = self.bytes_by_type.get(kind, 0) + len(msg.data.encode())
                self._changed.notify_all()
        return ws

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], Any], *, timeout: float, what: str) -> Any:
        """Waits (bounded) until ``predicate(messages)`` is truthy; returns it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = predicate(self.messages)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [m.get("type") for m in self.messages[-20:]]
                    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last messages: {kinds})")
                self._changed.wait(left)

    def wait_links(self, count: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.links < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {count} handshakes ({self.links})")
                self._changed.wait(left)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._changed:
            return [m for m in self.messages if m.get("type") == kind]


def start_agent(
    docker_host: str, url: str, log_path: Any, *, token: str, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python manage.py agent` as the image runs it, with only the agent's variables (no database, no
    SECRET_KEY, no DATA_DIR); its output goes to ``log_path``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DOCKER_HOST": docker_host,
        "AGENT_DASHBOARD_URL": url,
        "AGENT_TOKEN": token,
        "LOG_LEVEL": "INFO",
        **(extra or {}),
    }
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "agent"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
