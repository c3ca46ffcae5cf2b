"""This process's registry of swarms, built from the settings, started lazily in the serving event
loop (daphne has no lifespan): every view and consumer asks ``swarm()`` for the swarm it shows.

Each swarm's patches go to its Channels group for the websocket consumers, serialized once here,
not once per viewer.
"""

from __future__ import annotations

import json

from channels.layers import get_channel_layer
from django.conf import settings

from dashboard.core.agents_usage import UsageFrame
from dashboard.core.docker import DEFAULT_SOCKET, DockerProblem, Endpoint
from dashboard.core.model import Patch, Snapshot
from dashboard.core.registry import DEFAULT, Registry, Shared, Swarm, SwarmConfig
from dashboard.core.watch import WatchSettings
from dashboard.live import fanout
from dashboard.live.wire import patch_json

_registry: Registry | None = None


def watch_settings() -> WatchSettings:
    return WatchSettings(
        reconcile=settings.SWARM_RECONCILE_SECONDS,
        liveness=settings.SWARM_EVENTS_LIVENESS_SECONDS,
        backoff_max=settings.SWARM_BACKOFF_MAX_SECONDS,
        relax_factor=settings.AGENT_RECONCILE_RELAX,
        agent_stats_every=settings.AGENT_STATS_EVERY,
        # an agent speaks at least every stats_every: three missed, its process is gone
        agent_ttl=max(15.0, 3 * settings.AGENT_STATS_EVERY),
    )


def configs() -> list[SwarmConfig]:
    """The swarms of this process: today one, the daemon at DOCKER_HOST (read as the docker CLI does).
    A DOCKER_HOST that cannot be used is that swarm's published error, not every request's failure."""
    try:
        endpoint, problem = Endpoint.from_env(), None
    except DockerProblem as e:
        endpoint, problem = Endpoint(host=DEFAULT_SOCKET), e
    return [
        SwarmConfig(
            name=DEFAULT,
            endpoint=endpoint,
            watch=watch_settings(),
            read_only=settings.DOCKER_READ_ONLY,
            problem=problem,
            # with Redis, the processes of this deployment share one watcher and one model
            shared=Shared(settings.REDIS_URL, settings.REDIS_NAMESPACE) if settings.REDIS_URL else None,
        )
    ]


async def _to_group(swarm: Swarm, snapshot: Snapshot, patch: Patch) -> None:
    """Each patch serialized once, handed to every socket of this process that shows the whole model."""
    message = {"type": "patch", "epoch": swarm.watcher.epoch, **patch_json(patch)}
    fanout.publish(swarm.group, json.dumps(message, separators=(",", ":")))


async def _new_model(swarm: Swarm, epoch: int, snapshot: Snapshot) -> None:
    """A model loaded whole (the first one, a new leader's epoch, after a gap): every socket of this
    process is sent it again, after whatever patches of the old one it still had to receive."""
    from dashboard.live.hub import hub_reset

    for group in (swarm.group, *hub_reset(swarm, snapshot)):
        fanout.reset(group)


async def _usage(swarm: Swarm, frame: UsageFrame) -> None:
    from dashboard.live.usage import to_pages

    to_pages(swarm, frame)


async def _resend(conn: str) -> None:
    """Ask the node agent on socket ``conn`` (a channel name, on any process) for a fresh inventory
    (dashboard.live.agent_socket.AgentConsumer.agent_resend)."""
    await get_channel_layer().send(conn, {"type": "agent.resend"})


def registry() -> Registry:
    global _registry
    if _registry is None:
        _registry = Registry(configs(), on_patch=_to_group, on_model=_new_model, on_usage=_usage, on_resend=_resend)
    return _registry


def swarm(name: str | None = None) -> Swarm:
    """The swarm a view or a socket shows (its watcher running); must be called from the serving loop."""
    return registry().get(name)


async def stop() -> None:
    """Stop every watcher and close every Docker connection of this process (tests; a new registry follows)."""
    global _registry
    current, _registry = _registry, None
    if current is not None:
        await current.stop()
