"""deploy/stack.ha.yml on the lab, and a browser in a lab node's namespace to reach its replicas.

HAStack deploys it (two dashboard replicas, Redis, PostgreSQL) and finds each healthy replica;
Relay drives tests/deploy/relay.py (sign in, GET, open the grid's websocket) from the host;
Page (tests.pagemodel) is what such a page holds: its model, its epoch and seq, every gap it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.deploy.images import Images
from tests.deploy.stack import DB_LABEL, WAITING, Stack
from tests.lab import Lab, Swarm, wait_until
from tests.pagemodel import PageModel as Page

RELAY = Path(__file__).with_name("relay.py")


class HAStack(Stack):
    """deploy/stack.ha.yml: its Redis's password and URL as secrets, besides what every stack of ours has."""

    def __init__(self, lab: Lab, swarm: Swarm, images: Images) -> None:
        super().__init__(lab, swarm, images, "stack.ha.yml")
        self.redis_password = password = secrets.token_hex(24)
        self.variables |= {
            "REDIS_IMAGE": images.redis,
            "REDIS_PASSWORD_SECRET": swarm.create_secret("viz-redis-password", password.encode()),
            "REDIS_URL_SECRET": swarm.create_secret("viz-redis-url", f"redis://:{password}@redis:6379/0".encode()),
        }

    def deploy(self, compose: Path | None = None) -> None:
        """`docker stack deploy`; once both replicas wait for their database, the node without a replica
        is labelled for PostgreSQL and Redis: draining a replica's node then moves neither."""
        self.stack_deploy(compose)
        nodes = wait_until(lambda: self.replica_nodes(waiting=True), timeout=120, interval=0.5,
                           what="both dashboard replicas to wait for their database")  # fmt: skip
        self.db_node = min(set(range(1, self.lab.nodes + 1)) - set(nodes))
        self.lab.docker("node", "update", "--label-add", f"{DB_LABEL}=true", f"swarm-n{self.db_node}")

    def replica_nodes(self, *, waiting: bool = False) -> list[int] | None:
        """The nodes of the two dashboard replicas once both run (and, if ``waiting``, both wait for the database)."""
        nodes = [n for task, n in self._tasks(self.service()) if task["Status"]["State"] in ("starting", "running")]
        if len(nodes) != 2 or (waiting and not all(WAITING in self.logs(n) for n in nodes)):
            return None
        return sorted(nodes)

    def healthy_replicas(self) -> list[int] | None:
        """The nodes of the two dashboard replicas once both report healthy."""
        nodes = []
        for task, n in self._tasks(self.service()):
            container = task["Status"].get("ContainerStatus", {}).get("ContainerID", "")
            if task["Status"]["State"] == "running" and container:
                health = self.lab.docker("inspect", "--format", "{{.State.Health.Status}}", container, node=n,
                                         check=False)  # fmt: skip
                if health == "healthy":
                    nodes.append(n)
        return sorted(nodes) if len(nodes) == 2 else None

    def wait_replicas(self, *, timeout: float) -> list[int]:
        try:
            found = wait_until(self.healthy_replicas, timeout=timeout, interval=0.5, what="two healthy replicas")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnosis()}") from None
        return list(found)

    def redis_exposure(self) -> list[str]:
        """Where Redis's password shows outside its secret: the container's environment, command and
        arguments, its processes' command lines (`docker top`), its published ports."""
        assert self.db_node is not None
        container = self.container(self.db_node, "redis")
        spec = json.loads(self.lab.docker("inspect", container, node=self.db_node))[0]
        found = [
            where
            for where, text in [
                ("environment", json.dumps(spec["Config"]["Env"])),
                ("command", json.dumps([spec["Path"], *spec["Args"]])),
                ("processes", self.lab.docker("top", container, node=self.db_node)),
            ]
            if self.redis_password in text
        ]
        # an exposed port has no binding (None) unless it is published
        published = {port: to for port, to in (spec["NetworkSettings"]["Ports"] or {}).items() if to}
        if published:
            found.append(f"published ports {published}")
        return found

    def base(self, node: int) -> str:
        return f"http://{self.env[f'IP_N{node}']}:{self.port}"


class Relay:
    """tests/deploy/relay.py in a lab node's namespace: a browser that can reach the lab's addresses."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pages: dict[str, Page] = {}
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read(), name="relay-reader")

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, netns: str) -> AsyncIterator[Relay]:
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", netns, sys.executable, str(RELAY),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024,
        )  # fmt: skip
        relay = cls(proc)
        try:
            yield relay
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            relay._reader.cancel()
            await asyncio.gather(relay._reader, return_exceptions=True)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            message = json.loads(line)
            if "page" in message:
                page = self.pages[message["page"]]
                if "frame" in message:
                    page.frame(message["frame"])
                else:
                    page.closed = message["closed"]
                    page.changed.set()
            elif (answer := self._answers.pop(message["id"], None)) is not None:
                answer.set_result(message)
        for answer in self._answers.values():
            answer.set_exception(RuntimeError("the relay ended"))

    async def ask(self, op: str, *, timeout: float = 30, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        n = next(self._ids)
        answer = self._answers[n] = asyncio.get_running_loop().create_future()
        self.proc.stdin.write(json.dumps({"id": n, "op": op, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        reply: dict[str, Any] = await asyncio.wait_for(answer, timeout)
        if "error" in reply:
            raise AssertionError(f"{op} {args.get('base', '')}{args.get('path', '')}: {reply['error']}")
        return reply

    async def login(self, base: str, user: str, password: str) -> str:
        return str((await self.ask("login", base=base, user=user, password=password))["cookie"])

    async def get_json(self, base: str, path: str, cookie: str) -> dict[str, Any]:
        reply = await self.ask("get", base=base, path=path, cookie=cookie)
        assert reply["status"] == 200 and "json" in reply, f"GET {base}{path}: {reply}"
        return dict(reply["json"])

    async def open_page(self, base: str, cookie: str, name: str) -> Page:
        page = self.pages[name] = Page()
        await self.ask("page", base=base, cookie=cookie, page=name)
        return page
