"""`manage.py agent`: the node agent (dashboard.agent). One per node, pointed at its node's daemon
(DOCKER_HOST) and at the dashboard (AGENT_DASHBOARD_URL, AGENT_TOKEN or AGENT_TOKEN_FILE)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dashboard.agent import config
from dashboard.agent.daemon import NodeDaemon
from dashboard.agent.run import Agent
from dashboard.core.docker import DockerProblem, Endpoint


class Command(BaseCommand):
    help = "Report this node's swarm task containers (events, health, stats) to the dashboard, for ever."
    requires_system_checks: list[str] = []  # no database, no dashboard settings: nothing to check

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = config.load()
            endpoint = Endpoint.from_env()
        except (config.AgentSettingsError, DockerProblem) as e:
            raise CommandError(str(e), returncode=2) from None
        asyncio.run(_serve(Agent(settings, NodeDaemon(endpoint))))


async def _serve(agent: Agent) -> None:
    """Runs the agent until SIGTERM or SIGINT, then closes its connections and returns."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await agent.run()
    except asyncio.CancelledError:
        pass
    finally:
        with contextlib.suppress(Exception):
            await agent.daemon.close()
