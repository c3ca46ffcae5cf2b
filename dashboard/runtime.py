"""The process's one watcher, started lazily in the serving event loop (daphne has no lifespan).

Every view and consumer reaches the model through ``watcher()``; the first call starts a
supervisor task that runs the watcher and, should the watcher's loop itself ever die, says so in
the published status (error, kind ``internal``) and starts it again with backoff. A small ticker
beside it proves the event loop still turns, for the liveness check (``liveness()``). Patches go
to the Channels group ``GROUP`` for the websocket consumers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter

from channels.layers import get_channel_layer
from django.conf import settings

from dashboard.core.docker import DockerClient
from dashboard.core.model import Patch, Snapshot
from dashboard.core.watch import Watcher, WatchSettings
from dashboard.live.wire import patch_json

log = logging.getLogger(__name__)
GROUP = "swarm"

_watcher: Watcher | None = None
_task: asyncio.Task[None] | None = None
_ticker: asyncio.Task[None] | None = None
_client: DockerClient | None = None
_last_tick: float | None = None  # the event loop's time at the ticker's last turn
TICK_SECONDS = 1.0
STALLED_AFTER_SECONDS = 30.0  # the loop is called unresponsive when the ticker is this late
REQUEST_TIMEOUT = 10.0  # DockerClient's default bound on one request


def watch_settings() -> WatchSettings:
    return WatchSettings(
        reconcile=settings.SWARM_RECONCILE_SECONDS,
        liveness=settings.SWARM_EVENTS_LIVENESS_SECONDS,
        backoff_max=settings.SWARM_BACKOFF_MAX_SECONDS,
    )


async def _to_group(snapshot: Snapshot, patch: Patch) -> None:
    layer = get_channel_layer()
    if layer is not None:
        # serialized once here, not once per viewer
        message = {"type": "patch", **patch_json(patch)}
        await layer.group_send(GROUP, {"type": "swarm.patch", "text": json.dumps(message, separators=(",", ":"))})


def client() -> DockerClient:
    """A new client for the configured daemon; read-only when DOCKER_READ_ONLY is set."""
    return DockerClient.from_env(read_only=settings.DOCKER_READ_ONLY)


def watcher() -> Watcher:
    """The running watcher of this process (must be called from the serving event loop)."""
    global _watcher, _task, _ticker
    if _watcher is None:
        _watcher = Watcher(client, watch_settings())
        _watcher.subscribe(_to_group)
    loop = asyncio.get_running_loop()
    if _task is None or _task.done():
        _task = loop.create_task(supervise(_watcher, settings.SWARM_BACKOFF_MAX_SECONDS), name="swarm-watcher")
    if _ticker is None or _ticker.done():
        _ticker = loop.create_task(_tick(), name="event-loop-ticker")
    return _watcher


async def supervise(w: Watcher, backoff_max: float, *, _iterations: int | None = None) -> None:
    """Run the watcher for ever; if its loop dies (it handles Docker's failures itself, so this is
    a bug), publish that as an internal error and start it again after a growing pause."""
    backoff = 1.0
    runs = 0
    while _iterations is None or runs < _iterations:
        runs += 1
        try:
            await w.run()
            return
        except Exception as e:
            log.exception("the watcher stopped on an error; starting it again in %.0fs", backoff)
            await w.report_crash(e)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)


async def _tick() -> None:
    global _last_tick
    loop = asyncio.get_running_loop()
    while True:
        _last_tick = loop.time()
        await asyncio.sleep(TICK_SECONDS)


def liveness() -> tuple[bool, dict[str, object]]:
    """Is this process alive: its event loop turning, its watcher running or being restarted?
    Docker's own state does not count here (that is readiness, /healthz): a dashboard must stay up
    to say "Docker lost" rather than be killed and replaced for it."""
    w = watcher()
    late = asyncio.get_running_loop().time() - _last_tick if _last_tick is not None else 0.0
    supervisor_alive = _task is not None and not _task.done()
    body: dict[str, object] = {
        "watcher": "running" if supervisor_alive else "stopped",
        "docker": w.snapshot.status.state,
        "event_loop_late_seconds": round(late, 3),
    }
    # every step of the watcher is bounded (requests by their timeout, waits by the reconcile and
    # the backoff), so a loop that has not moved for much longer than all of them is stuck
    stuck_after = max(STALLED_AFTER_SECONDS, w.settings.reconcile + w.settings.backoff_max + 4 * REQUEST_TIMEOUT)
    stalled = w.stalled_for()
    body["watcher_stalled_seconds"] = round(stalled, 3)
    alive = supervisor_alive and late < STALLED_AFTER_SECONDS and stalled < stuck_after
    body["status"] = "ok" if alive else "error"
    return alive, body


async def first_sync(timeout: float) -> Watcher:
    """The watcher, after its first successful listing or ``timeout`` seconds, whichever comes first."""
    w = watcher()
    try:
        await w.wait_for(lambda s: s.status.state != "connecting", timeout)
    except TimeoutError:
        pass
    return w


async def stop() -> None:
    """Cancel the watcher and wait for it to close its Docker connection; close the views' client."""
    global _watcher, _task, _ticker
    tasks = [t for t in (_task, _ticker) if t is not None]
    _task, _ticker, _watcher = None, None, None
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    global _client
    shared, _client = _client, None
    if shared is not None:
        await shared.close()


def views_request_counts() -> Counter[str]:
    return Counter(_client.requests) if _client is not None else Counter()


def docker() -> DockerClient:
    """A client shared by the views of this process (task details); the watcher keeps its own."""
    global _client
    if _client is None:
        _client = client()
    return _client
