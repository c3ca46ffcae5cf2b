"""Nodes: GET /nodes."""

from __future__ import annotations

from dashboard.core.docker.transport import Transport
from dashboard.core.domain import Node, parse_node


class Nodes(Transport):
    async def nodes(self) -> tuple[Node, ...]:
        """GET /nodes (every node of the swarm)."""
        return await self._list("nodes", None, parse_node)
