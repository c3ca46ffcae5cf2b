"""A scripted Docker for the watcher's unit tests: the swarm is plain dicts the test edits, events
are pushed by hand, and every call can be made to fail, hang or go half-open - on the event
loop's clock, so that a test fast-forwarded by looptime scripts races exactly, with no sleeping.

It speaks the part of dashboard.core.docker.DockerClient that the watcher uses.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from dashboard.core.docker import DaemonUnreachable, DockerAPIError, DockerClient, DockerProblem, Endpoint, Event
from dashboard.core.domain import Config, Node, Secret, Service, Task


def node(node_id: str, *, state: str = "ready", availability: str = "active") -> Node:
    return Node(
        id=node_id, hostname=f"host-{node_id}", role="worker", leader=False, reachability="", state=state,
        message="", address="198.51.100.9", availability=availability, engine_version="29.0.2",
        platform="linux/x86_64", cpus=2.0, memory_bytes=1 << 30, labels=(),
    )  # fmt: skip


def service(service_id: str, *, replicas: int = 1, image: str = "local/busybox:1") -> Service:
    return Service(
        id=service_id, name=f"svc-{service_id}", stack="", image=image, mode="replicated", replicas=replicas,
        running_tasks=None, desired_tasks=None, update_state="", update_message="", labels=(), ports=(),
        created_at="", updated_at="", secrets=(), configs=(),
    )  # fmt: skip


def task(
    task_id: str, service_id: str, node_id: str, *, slot: int = 1, state: str = "running", desired: str = "running"
) -> Task:
    return Task(
        id=task_id, service_id=service_id, slot=slot, node_id=node_id, desired_state=desired, state=state,
        message="", error="", exit_code=None, container_id="", image="local/busybox:1", created_at="",
        updated_at="", status_at="", health="", orphaned=False,
    )  # fmt: skip


def secret(secret_id: str, name: str) -> Secret:
    return Secret(id=secret_id, name=name, labels=(), driver="", created_at="", updated_at="")


@dataclass
class Stream:
    """One open /events request."""

    since: int | None
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    half_open: bool = False  # the connection stays open and carries nothing more
    closed: bool = False


class FakeDocker:
    """The swarm as the test scripts it. ``fail[method]`` holds exceptions raised by that method's
    next calls (one per call); ``broken`` makes every new request fail as a dead daemon would."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.services: dict[str, Service] = {}
        self.tasks: dict[str, Task] = {}
        self.secrets: dict[str, Secret] = {}
        self.configs: dict[str, Config] = {}
        self.log: list[Event] = []
        self.streams: list[Stream] = []
        self.calls: list[tuple[float, str]] = []  # (loop time, method)
        self.fail: dict[str, list[BaseException]] = {}
        self.broken = False
        # "tasks:node" / "tasks:service" / a method's name -> an event its next answers wait for:
        # the answer is what Docker held when asked, delivered when the test opens the gate
        self.gates: dict[str, asyncio.Event] = {}
        self._epoch = time.time()

    def client(self) -> FakeClient:
        return FakeClient(self)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def emit(self, type_: str, action: str, actor_id: str, **attributes: str) -> Event:
        """An event as a manager's /events would carry it, to every open stream that is not half-open."""
        event = Event(
            type=type_, action=action, actor_id=actor_id, attributes=tuple(sorted(attributes.items())),
            time_nano=int((self._epoch + self.now()) * 1e9),
        )  # fmt: skip
        self.log.append(event)
        for stream in self.streams:
            if not stream.closed and not stream.half_open:
                stream.queue.put_nowait(event)
        return event

    def open_streams(self) -> list[Stream]:
        return [s for s in self.streams if not s.closed]

    def calls_of(self, method: str) -> list[float]:
        return [at for at, name in self.calls if name == method]

    def _call(self, method: str) -> None:
        self.calls.append((self.now(), method))
        if self.broken:
            raise DaemonUnreachable("cannot reach Docker at fake: connection refused")
        queued = self.fail.get(method)
        if queued:
            raise queued.pop(0)


class FakeClient:
    def __init__(self, docker: FakeDocker) -> None:
        self.docker = docker
        self.endpoint = Endpoint(host="unix:///fake.sock")
        self.requests: Counter[str] = Counter()
        self.last_ok: float | None = None
        self.closed = False

    async def _answer(self, method: str) -> None:
        self.requests[method] += 1
        await asyncio.sleep(0)  # an answer is never synchronous: let the rest of the loop run
        self.docker._call(method)
        self.last_ok = self.docker.now()

    async def check_manager(self) -> dict[str, Any]:
        await self._answer("info")
        return {"Swarm": {"LocalNodeState": "active", "ControlAvailable": True}}

    async def nodes(self) -> tuple[Node, ...]:
        await self._answer("nodes")
        return tuple(self.docker.nodes.values())

    async def services(self, *, ids: tuple[str, ...] = ()) -> tuple[Service, ...]:
        await self._answer("services")
        return tuple(s for s in self.docker.services.values() if not ids or s.id in ids)

    async def tasks(self, *, service_ids: tuple[str, ...] = (), node_ids: tuple[str, ...] = ()) -> tuple[Task, ...]:
        await self._answer("tasks")
        for service_id in service_ids:
            if service_id not in self.docker.services:
                raise DockerAPIError(404, f"service {service_id} not found")
        answer = tuple(
            t
            for t in self.docker.tasks.values()
            if (not service_ids or t.service_id in service_ids) and (not node_ids or t.node_id in node_ids)
        )
        gate = self.docker.gates.get("tasks:service" if service_ids else "tasks:node" if node_ids else "tasks")
        if gate is not None:
            await gate.wait()
        return answer

    async def secrets(self) -> tuple[Secret, ...]:
        await self._answer("secrets")
        return tuple(self.docker.secrets.values())

    async def configs(self) -> tuple[Config, ...]:
        await self._answer("configs")
        return tuple(self.docker.configs.values())

    async def ping(self, *, timeout: float) -> None:
        await self._answer("ping")

    async def events(
        self, *, since: int | None, liveness: float, opened: asyncio.Event | None = None
    ) -> AsyncIterator[Event | None]:
        await self._answer("events")
        stream = Stream(since=since)
        if since is not None:
            for event in self.docker.log:
                if event.time_nano // 1_000_000_000 >= since:
                    stream.queue.put_nowait(event)
        self.docker.streams.append(stream)
        if opened is not None:
            opened.set()
        try:
            while True:
                try:
                    async with asyncio.timeout(liveness):
                        event = await stream.queue.get()
                except TimeoutError:
                    yield None
                    continue
                self.last_ok = self.docker.now()
                yield event
        finally:
            stream.closed = True

    async def close(self) -> None:
        self.closed = True


def factory(docker: FakeDocker) -> Callable[[], DockerClient]:
    """For Watcher(client_factory=...): the fake stands in for a DockerClient."""
    return docker.client  # type: ignore[return-value]


def raises(exc: BaseException, times: int = 1) -> list[BaseException]:
    return [exc] * times


__all__ = ["DockerProblem", "FakeDocker", "factory", "node", "raises", "secret", "service", "task"]
