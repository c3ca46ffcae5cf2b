"""The agent's node daemon: the dashboard's Docker transport (endpoint, TLS, version, bounded and
counted requests, errors), read-only, with the few reads an agent makes. Only GETs: events,
containers/json, containers/{id}/json, containers/{id}/stats, info, version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from dashboard.agent.containers import EVENT_FILTERS, TASK_LABEL, listed, task_container
from dashboard.agent.messages import TaskContainer
from dashboard.core.docker import DockerProblem, Endpoint, Event, NotInSwarm
from dashboard.core.docker.events import Events
from dashboard.core.docker.system import System
from dashboard.core.domain import JSON, as_dict, valid_id

INSPECTS_IN_FLIGHT = 8  # inspects are work for the daemon: a few at a time
# A stats request, even one-shot, is answered at the daemon's stats collector's next tick (once a
# second, for every container it is asked about): requests mostly wait, so many go at once (8 at a
# time sampled 25 of 100 containers in 4 s on the lab). aiodocker's connection pool holds 100.
STATS_IN_FLIGHT = 64
STATS_ONE_SHOT = {"stream": "false", "one-shot": "true"}  # API >= 1.41: one sample, no second one a second later


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the node is, from GET /info."""

    node_id: str
    hostname: str
    engine: str
    info: JSON


class NodeDaemon(System, Events):
    """A read-only connection to the agent's own node's daemon. Use as ``async with``."""

    def __init__(self, endpoint: Endpoint, *, request_timeout: float = 10.0) -> None:
        super().__init__(endpoint, request_timeout=request_timeout, read_only=True)
        self._inspects = asyncio.Semaphore(INSPECTS_IN_FLIGHT)
        self._stats = asyncio.Semaphore(STATS_IN_FLIGHT)

    async def identity(self) -> Identity:
        """GET /info; NotInSwarm when the node is in no swarm (there is no task to report)."""
        info = await self.info()
        swarm = as_dict(info.get("Swarm"))
        node_id = swarm.get("NodeID")
        if swarm.get("LocalNodeState") != "active" or not isinstance(node_id, str) or not valid_id(node_id):
            raise NotInSwarm(
                f"the Docker daemon at {self.endpoint.describe()} is not in a swarm (state: "
                f"{swarm.get('LocalNodeState') or 'inactive'}): the agent reports swarm tasks only"
            )
        engine = info.get("ServerVersion")
        hostname = info.get("Name")
        return Identity(
            node_id=node_id,
            hostname=hostname if isinstance(hostname, str) else "",
            engine=engine if isinstance(engine, str) else self.engine_version,
            info=info,
        )

    def container_events(self, *, liveness: float, opened: asyncio.Event) -> AsyncIterator[Event | None]:
        """Swarm task containers' events, from now on (no replay: a fresh inventory follows every opening)."""
        return self.events(since=None, liveness=liveness, opened=opened, filters=EVENT_FILTERS)

    async def task_containers(self, *, running_only: bool) -> list[tuple[str, str]]:
        """GET /containers/json: (task id, container id) of the node's swarm task containers."""
        params = {"filters": json.dumps({"label": [TASK_LABEL]})}
        if not running_only:
            params["all"] = "1"
        found = await self._list("containers/json", params, listed)
        return [ids for ids in found if ids is not None]

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        try:
            return await super()._get(path, params)
        finally:
            # one count per endpoint, not per container: the agent lives for months among containers
            # that come and go, and a key per container id would grow without end
            kind, _, rest = path.partition("/")
            if kind == "containers" and "/" in rest:
                self.requests[f"GET /containers/{{id}}/{rest.split('/', 1)[1]}"] += self.requests.pop(f"GET /{path}", 0)

    async def inspect(self, container_id: str) -> JSON:
        async with self._inspects:
            return await self._get(f"containers/{container_id}/json")

    async def inventory(self) -> list[TaskContainer]:
        """Every swarm task container of the node, running or not, inspected for health, OOM kill
        and exit code. A container removed between the list and its inspect is left out."""
        found = await self.task_containers(running_only=False)
        inspected = await asyncio.gather(*(self._inspect_or_none(container_id) for _, container_id in found))
        entries = (task_container(raw) for raw in inspected if raw is not None)
        return [entry for entry in entries if entry is not None]

    async def _inspect_or_none(self, container_id: str) -> JSON | None:
        try:
            return await self.inspect(container_id)
        except DockerProblem as e:
            if getattr(e, "status", None) == 404:
                return None
            raise

    async def health_output(self, container_id: str) -> str:
        """The last health check's output (its tail), or "" when the container cannot be inspected now."""
        try:
            raw = await self.inspect(container_id)
        except DockerProblem:
            return ""
        entry = task_container(raw)
        return entry["output"] if entry is not None else ""

    async def one_shot_stats(self, container_id: str, *, timeout: float) -> JSON | None:
        """GET /containers/{id}/stats?stream=false&one-shot=true within ``timeout``; None when the
        container does not answer in time or is gone (a slow container skips a round, nothing more).

        The hottest path of the agent (one request per container and round): read and decoded here
        rather than through aiodocker's JSON helper, which costs a quarter more CPU per request."""
        path = f"containers/{container_id}/stats"
        try:
            async with asyncio.timeout(timeout):  # the wait for a free slot counts: a round has a deadline
                async with self._stats, self._answer("GET", path):
                    self.requests["GET /containers/{id}/stats"] += 1
                    async with (await self._api())._query(path, "GET", params=STATS_ONE_SHOT) as response:
                        raw = await response.read()
        except (TimeoutError, DockerProblem):
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None
