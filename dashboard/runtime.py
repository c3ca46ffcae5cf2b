"""The process's one watcher, started lazily in the serving event loop (daphne has no lifespan).

Every view and consumer reaches the model through ``watcher()``; the first call starts the
watcher task, later calls return it, and a watcher task that died of a bug is logged and started
again. Patches go to the Channels group ``GROUP`` for the websocket consumers.
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.layers import get_channel_layer
from django.conf import settings

from dashboard.docker_client import DockerClient
from dashboard.state import Patch, Snapshot, patch_json
from dashboard.watcher import Watcher, WatchSettings

log = logging.getLogger(__name__)
GROUP = "swarm"

_watcher: Watcher | None = None
_task: asyncio.Task[None] | None = None
_client: DockerClient | None = None


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
    global _watcher, _task
    if _watcher is None:
        _watcher = Watcher(client, watch_settings())
        _watcher.subscribe(_to_group)
    if _task is None or _task.done():
        if _task is not None and not _task.cancelled() and _task.exception() is not None:
            log.error("the watcher stopped on an error; starting it again", exc_info=_task.exception())
        _task = asyncio.get_running_loop().create_task(_watcher.run(), name="swarm-watcher")
    return _watcher


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
    global _watcher, _task
    task, _task, _watcher = _task, None, None
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    global _client
    shared, _client = _client, None
    if shared is not None:
        await shared.close()


def docker() -> DockerClient:
    """A client shared by the views of this process (task details); the watcher keeps its own."""
    global _client
    if _client is None:
        _client = client()
    return _client
