"""The agent's process: settings, logging, the loops until SIGTERM. `manage.py agent` comes here before
Django is set up: the agent needs none of Django's apps, settings or database, and on every node of a
swarm the ~17 MB they would cost are worth saving (dashboard/management/commands/agent.py is the same
entry for `django-admin`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from dashboard.agent.config import AgentSettingsError, load
from dashboard.agent.daemon import NodeDaemon
from dashboard.agent.run import Agent
from dashboard.core.docker import DockerProblem, Endpoint

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def main(args: list[str] | None = None) -> int:
    """Runs the agent until SIGTERM or SIGINT (0); a missing or invalid setting, or any argument
    (its settings are environment variables), is one line on stderr and exit code 2."""
    try:
        if args:
            raise AgentSettingsError(
                f"unexpected arguments {' '.join(args)[:200]!r}: the agent's settings are environment variables "
                "(AGENT_DASHBOARD_URL, AGENT_TOKEN or AGENT_TOKEN_FILE, ...)"
            )
        level = os.environ.get("LOG_LEVEL", "") or "INFO"
        if level.upper() not in LEVELS:
            raise AgentSettingsError(f"LOG_LEVEL={level!r}: expected one of {', '.join(LEVELS)}")
        settings = load()
        endpoint = Endpoint.from_env()
    except (AgentSettingsError, DockerProblem) as e:
        print(f"agent: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level.upper())
    asyncio.run(_serve(Agent(settings, NodeDaemon(endpoint))))
    return 0


async def _serve(agent: Agent) -> None:
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
