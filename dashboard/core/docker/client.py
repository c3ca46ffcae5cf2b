"""DockerClient: one connection to a swarm manager, every resource the dashboard reads or writes."""

from __future__ import annotations

from dashboard.core.docker.endpoint import Endpoint
from dashboard.core.docker.events import Events
from dashboard.core.docker.nodes import Nodes
from dashboard.core.docker.secrets import Secrets
from dashboard.core.docker.services import Services
from dashboard.core.docker.tasks import Tasks
from dashboard.core.domain import JSON


class DockerClient(Tasks, Nodes, Services, Secrets, Events):
    """A connection to one Docker daemon (a swarm manager). Use as ``async with``.

    Nothing raw leaves it: every answer becomes the frozen objects of dashboard.core.domain, every
    failure one of the errors of dashboard.core.docker.errors."""


async def check_connection(endpoint: Endpoint | None = None) -> tuple[DockerClient, JSON]:
    """Connect and prove the daemon is a swarm manager; for start-up checks."""
    client = DockerClient(endpoint or Endpoint.from_env(), request_timeout=5.0)
    try:
        info = await client.check_manager()
    except BaseException:
        await client.close()
        raise
    return client, info
