"""`manage.py checkdocker`: prove the configured Docker daemon can serve the dashboard, or say why not."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dashboard.core.docker import DockerProblem, Endpoint, check_connection


class Command(BaseCommand):
    help = "Check that DOCKER_HOST reaches a Docker swarm manager; exit 1 with advice when it does not."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            endpoint = Endpoint.from_env()
            info = asyncio.run(_check(endpoint))
        except DockerProblem as e:
            raise CommandError(
                f"{e}\n(the connection comes from DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, "
                "as for the docker CLI; `./sv demo` starts a local test swarm instead)"
            ) from None
        swarm = info.get("Swarm", {})
        self.stdout.write(
            f"Docker {info.get('ServerVersion', '?')} at {endpoint.describe()}: swarm manager of "
            f"{swarm.get('Nodes', '?')} node(s)"
        )


async def _check(endpoint: Endpoint) -> dict[str, Any]:
    client, info = await check_connection(endpoint)
    await client.close()
    return info
