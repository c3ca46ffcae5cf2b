"""Tasks: GET /tasks, one task in full (with its service, slot history and container health), a
masked value read fresh, and its log stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from urllib.parse import quote

import aiodocker
import aiohttp

import dashboard.core.docker.logs as logs
from dashboard.core.details import TaskDetail, parse_detail
from dashboard.core.docker.errors import DockerAPIError, DockerProblem, LogsUnavailable, short
from dashboard.core.docker.logs import LogLine, demultiplex
from dashboard.core.docker.system import System
from dashboard.core.domain import JSON, Task, as_dict, parse_task
from dashboard.core.masking import DEFAULT_KEYS, SecretKeys, mask


class Tasks(System):
    async def tasks(self, *, service_ids: tuple[str, ...] = (), node_ids: tuple[str, ...] = ()) -> tuple[Task, ...]:
        """GET /tasks, filtered by ``service`` and/or ``node`` (each an OR-list)."""
        filters: dict[str, list[str]] = {}
        if service_ids:
            filters["service"] = list(service_ids)
        if node_ids:
            filters["node"] = list(node_ids)
        params = {"filters": json.dumps(filters)} if filters else None
        return await self._list("tasks", params, parse_task)

    async def task_detail(
        self,
        task_id: str,
        *,
        service_tasks: Callable[[str], Iterable[Task] | None] | None = None,
        keys: SecretKeys = DEFAULT_KEYS,
    ) -> tuple[TaskDetail, JSON]:
        """One task in full, and its inspect JSON, both masked by ``keys``' rule (the clear values stay here).

        GET /tasks/{id}, /services/{id}, and /containers/{id}/json for health when the container
        runs on the node we talk to (a manager cannot inspect containers on other nodes). The
        slot's history comes from ``service_tasks(service_id)`` - the live model, so that a viewer
        opening a panel costs Docker no listing - or, without it (or when it answers None: the
        model is not live), from /tasks?filters={"service":[id]}.
        """
        raw = await self._get(f"tasks/{quote(task_id, safe='')}")
        task = parse_task(raw)
        try:
            raw_service = await self._get(f"services/{quote(task.service_id, safe='')}")
        except DockerAPIError as e:
            if e.status != 404:
                raise
            raw_service = None  # the service is gone; its last tasks still tell their story
        siblings: Iterable[Task] = ()
        if raw_service is not None:
            from_model = service_tasks(task.service_id) if service_tasks is not None else None
            siblings = await self.tasks(service_ids=(task.service_id,)) if from_model is None else from_model
        same_slot = tuple(
            t for t in siblings if (t.slot == task.slot if task.slot is not None else t.node_id == task.node_id)
        )
        container = None
        if task.container_id and task.node_id == await self.local_node_id():
            try:
                container = await self._get(f"containers/{quote(task.container_id, safe='')}/json")
            except DockerAPIError:
                container = None  # already removed
        return parse_detail(raw, raw_service, same_slot, container, keys)

    async def task_log_driver(self, task_id: str) -> str:
        """The log driver a task's container uses: the task's own, else the daemon's default."""
        raw = await self._get(f"tasks/{quote(task_id, safe='')}")
        name = as_dict(as_dict(raw.get("Spec")).get("LogDriver")).get("Name")
        if not name:
            name = (await self.info()).get("LoggingDriver", "")
        return str(name)

    async def task_masked_value(self, task_id: str, pointer: str, keys: SecretKeys = DEFAULT_KEYS) -> str | None:
        """The string that the masked value at ``pointer`` (a JSON Pointer into the task's inspect
        JSON) hides, read fresh; None when nothing masked is there. The caller checks the
        permission and audits."""
        return mask(await self._get(f"tasks/{quote(task_id, safe='')}"), keys).clear.get(pointer)

    async def task_logs(self, task_id: str, *, follow: bool, tail: int, since: int = 0) -> AsyncIterator[LogLine]:
        """GET /tasks/{id}/logs (stdout, stderr, timestamps), demultiplexed into lines.

        The stream stays open while ``follow``; it is closed when the iterator is closed (the
        panel closed, the socket dropped) - ``logs.open_streams`` counts the ones open.
        """
        driver = await self.task_log_driver(task_id)
        if driver == "none":
            raise LogsUnavailable("this task's logging driver is none: Docker keeps no output to show")
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if follow else "0"}
        params["tail"] = str(tail) if tail >= 0 else "all"
        if since:
            params["since"] = str(since)
        self.requests["GET /tasks/logs"] += 1
        # no time bound on opening: with follow, Docker answers only once the task writes a line
        try:
            cm = (await self._api())._query(
                f"tasks/{quote(task_id, safe='')}/logs",
                params=params,
                timeout=aiohttp.ClientTimeout(total=None, connect=self.request_timeout),
            )
            response = await cm.__aenter__()
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            problem = self._classify(e, "logs")
            if isinstance(problem, DockerAPIError) and "logging driver" in str(problem):
                raise LogsUnavailable(
                    "this task's logging driver cannot be read through the Docker API (only json-file, "
                    f"local and journald can): {problem}"
                ) from None
            raise problem from None
        logs.open_streams += 1
        try:
            async for line in demultiplex(response.content):
                yield line
        except (aiohttp.ClientError, OSError) as e:
            # Docker answered, then the stream broke: not a reason to doubt the socket or its rights
            raise DockerProblem(f"the log stream broke: {short(e)}") from None
        finally:
            logs.open_streams -= 1
            response.close()
            await cm.__aexit__(None, None, None)
