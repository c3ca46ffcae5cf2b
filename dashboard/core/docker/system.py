"""The daemon itself: /info, whether it can serve a swarm dashboard, and which node it is."""

from __future__ import annotations

from dashboard.core.docker.errors import NotAManager, NotInSwarm
from dashboard.core.docker.transport import Transport
from dashboard.core.domain import JSON, as_dict


class System(Transport):
    _local_node_id: str | None = None

    async def info(self) -> JSON:
        return await self._get("info")

    async def check_manager(self) -> JSON:
        """GET /info; raises NotInSwarm or NotAManager when the daemon cannot serve the dashboard."""
        info = await self.info()
        swarm = as_dict(info.get("Swarm"))
        where = self.endpoint.describe()
        if swarm.get("LocalNodeState") != "active":
            raise NotInSwarm(
                f"the Docker daemon at {where} is not in swarm mode (state: "
                f"{swarm.get('LocalNodeState') or 'inactive'}): run `docker swarm init` there, or point "
                "DOCKER_HOST at a swarm manager."
            )
        if not swarm.get("ControlAvailable"):
            raise NotAManager(
                f"the Docker daemon at {where} is a swarm worker: it cannot list services or tasks. "
                "Point DOCKER_HOST at a manager node."
            )
        return info

    async def local_node_id(self) -> str:
        if self._local_node_id is None:
            self._local_node_id = str(as_dict((await self.info()).get("Swarm")).get("NodeID", ""))
        return self._local_node_id
