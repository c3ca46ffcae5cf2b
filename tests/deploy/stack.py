"""One stack of ours on the lab: deploy it, place its database, find its healthy tasks, probe them, remove it."""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.deploy.images import Images
from tests.lab import DOCKER, Lab, Swarm, wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROBE = Path(__file__).with_name("probe.py")
# On a real manager the socket is /var/run/docker.sock; each lab node has its own socket path, but
# its dockerd sees a private /var/lib/docker, so one path there names each node's own socket.
LAB_SOCKET = "/var/lib/docker/visualizer-docker.sock"
ADMIN = "admin"


def lab_env(lab: Lab) -> dict[str, str]:
    text = Path(lab.base, "state", "env").read_text()
    return dict((f"{name}{n}", value) for name, n, value in re.findall(r"SWARMLAB_(\w+?_N)(\d+)=([^;\s]+)", text))


# the stack files' placement constraint for the database
DB_LABEL = "visualizer.db"
# deploy/wait_for_database.py's log line while the database does not answer
WAITING = "wait_for_database: waiting for the database at db:5432/visualizer"


class Stack:
    """One stack of ours on the lab: deploy, find its healthy task, probe it, remove everything of it."""

    def __init__(self, lab: Lab, swarm: Swarm, images: Images, compose: str) -> None:
        self.lab, self.swarm, self.compose = lab, swarm, compose
        self.name = swarm.name("viz").replace("-", "")
        self.env = lab_env(lab)
        self.password = secrets.token_urlsafe(18)
        self.port = random.randint(20000, 29999)
        self.db_node: int | None = None
        db_password = secrets.token_hex(24)  # hex: nothing to percent-encode in the URL
        for n in range(1, lab.nodes + 1):
            link = Path(lab.base, f"n{n}", "var-lib-docker", LAB_SOCKET.rsplit("/", 1)[1])
            if not link.is_symlink():
                link.symlink_to(lab.sock(n))
        self.variables = {
            "IMAGE": images.app,
            "PROXY_IMAGE": images.proxy,
            "DOCKER_GID": str(os.stat(lab.sock(1)).st_gid),
            "DOCKER_SOCKET": LAB_SOCKET,
            "PORT": str(self.port),
            "ALLOWED_HOSTS": ",".join(self.env[f"IP_N{n}"] for n in range(1, lab.nodes + 1)),
            "ADMIN_USER": ADMIN,
            "SECRET_KEY_SECRET": swarm.create_secret("viz-key", secrets.token_urlsafe(48).encode()),
            "ADMIN_PASSWORD_SECRET": swarm.create_secret("viz-admin", self.password.encode()),
            # the stacks' node agents read it (a global service); the agent's own tests are elsewhere
            "AGENT_TOKEN_SECRET": swarm.create_secret("viz-agent-token", secrets.token_urlsafe(32).encode()),
            # the lab has no IPVS: nothing answers on a service's virtual IP, so the agents dial the
            # dashboard's tasks by name (a user's swarm reaches the default, ws://visualizer:8000)
            "AGENT_DASHBOARD_URL": f"ws://tasks.{self.name}_visualizer:8000",
            "DB_IMAGE": images.db,
            "DB_PASSWORD_SECRET": swarm.create_secret("viz-db-password", db_password.encode()),
            "DATABASE_URL_SECRET": swarm.create_secret(
                "viz-db-url", f"postgres://visualizer:{db_password}@db:5432/visualizer".encode()
            ),
        }

    def deploy(self, compose: Path | None = None) -> None:
        """`docker stack deploy`, then the database's node: one the dashboard does not run on (so that
        draining the dashboard's node leaves the database be), labelled only once the dashboard's start
        is waiting for the database, as after a cold boot where the dashboard comes up first."""
        self.stack_deploy(compose)
        first = int(wait_until(lambda: self.running_node(self.service()), timeout=120, interval=0.5,
                               what="the dashboard's task to start"))  # fmt: skip
        wait_until(lambda: WAITING in self.logs(first), timeout=60, interval=0.5,
                   what="the dashboard to wait for its database")  # fmt: skip
        self.db_node = min(n for n in range(1, self.lab.nodes + 1) if n != first)
        self.lab.docker("node", "update", "--label-add", f"{DB_LABEL}=true", f"swarm-n{self.db_node}")

    def stack_deploy(self, compose: Path | None = None) -> None:
        """`docker stack deploy` of this stack's compose file (or ``compose``) with its variables."""
        proc = subprocess.run(
            [DOCKER, "-H", f"unix://{self.lab.sock(1)}", "stack", "deploy", "--resolve-image", "never",
             "-c", str(compose or DEPLOY / self.compose), self.name],
            capture_output=True, text=True, timeout=120, env={**os.environ, **self.variables},
        )  # fmt: skip
        assert proc.returncode == 0, f"stack deploy failed: {proc.stderr}"

    def running_node(self, service: str) -> int | None:
        """The node of the task of ``service`` whose container runs (healthy or not yet), when there is one."""
        for task, n in self._tasks(service):
            # a task with a healthcheck is "starting" from its container's start until its first healthy check
            if task["Status"]["State"] in ("starting", "running"):
                return n
        return None

    def _tasks(self, service: str) -> list[tuple[dict[str, Any], int]]:
        """The tasks of ``service`` meant to run, each with its node's number."""
        filters = quote(json.dumps({"service": [service], "desired-state": ["running"]}), safe="")
        found = []
        for task in self.lab.api(f"/tasks?filters={filters}"):
            if not task.get("NodeID"):
                continue
            hostname = self.lab.api(f"/nodes/{task['NodeID']}")["Description"]["Hostname"]
            found.append((task, int(hostname.removeprefix("swarm-n"))))
        return found

    def container(self, node: int, service: str = "visualizer") -> str:
        """The running container of ``service``'s task on ``node``."""
        ids = self.lab.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.service(service)}",
                              node=node).split()  # fmt: skip
        assert ids, f"no container of {self.service(service)} on node {node}"
        return ids[0]

    def manage(self, node: int, *args: str, env: dict[str, str] | None = None) -> str:
        """`python manage.py ARGS` in the dashboard's container on ``node``, as an operator runs it."""
        pairs = [f"--env={k}={v}" for k, v in (env or {}).items()]
        return self.lab.docker("exec", *pairs, self.container(node), "python", "manage.py", *args, node=node,
                               timeout=90)  # fmt: skip

    def logs(self, node: int, service: str = "visualizer") -> str:
        """The log of ``service``'s running container on ``node`` (empty while there is none)."""
        ids = self.lab.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.service(service)}",
                              node=node).split()  # fmt: skip
        if not ids:
            return ""
        out = subprocess.run([DOCKER, "-H", f"unix://{self.lab.sock(node)}", "logs", ids[0]],
                             capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        return out.stdout + out.stderr

    def service(self, name: str = "visualizer") -> str:
        return f"{self.name}_{name}"

    def healthy_node(self, service: str, *, not_on: frozenset[int] = frozenset()) -> int | None:
        """The node whose running task of ``service`` reports healthy, when there is one."""
        for task, n in self._tasks(service):
            if task["Status"]["State"] != "running":
                continue
            container = task["Status"].get("ContainerStatus", {}).get("ContainerID", "")
            health = self.lab.docker("inspect", "--format", "{{.State.Health.Status}}", container, node=n, check=False)
            if n not in not_on and health == "healthy":
                return n
        return None

    def wait_healthy(self, service: str, *, timeout: float, not_on: frozenset[int] = frozenset()) -> int:
        try:
            found = wait_until(
                lambda: self.healthy_node(service, not_on=not_on),
                timeout=timeout,
                interval=0.5,
                what=f"{service} healthy",
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnosis()}") from None
        return int(found)

    def probe(self, node: int, *, prefix: str = "", user: str = ADMIN, password: str | None = None) -> dict[str, Any]:
        """Sign in (as the first admin unless told), read the snapshot and the websocket's first message at
        node's address, from node 1's namespace: the host itself has no route to the lab's addresses."""
        url = f"http://{self.env[f'IP_N{node}']}:{self.port}{prefix}"
        proc = subprocess.run(
            ["ip", "netns", "exec", self.env["NETNS_N1"], sys.executable, str(PROBE), url, user],
            capture_output=True, text=True, timeout=90,
            env={**os.environ, "PROBE_PASSWORD": password or self.password},
        )  # fmt: skip
        assert proc.returncode == 0, f"the probe failed: {proc.stderr[-2000:]}"
        return dict(json.loads(proc.stdout))

    def who_gets_in(self, node: int, checks: dict[str, list[str]]) -> dict[str, Any]:
        """probe.py's who_gets_in at node's address, from node 1's namespace (see probe). The task is
        healthy; its host-mode port may lag a moment behind: asked again while a check ends in an error."""
        url = f"http://{self.env[f'IP_N{node}']}:{self.port}"
        last: dict[str, Any] = {}

        def answered() -> bool:
            nonlocal last
            proc = subprocess.run(
                ["ip", "netns", "exec", self.env["NETNS_N1"], sys.executable, str(PROBE), "--who", url],
                capture_output=True, text=True, timeout=120, env={**os.environ, "PROBE_WHO": json.dumps(checks)},
            )  # fmt: skip
            assert proc.returncode == 0, f"the probe failed: {proc.stderr[-2000:]}"
            last = dict(json.loads(proc.stdout))
            return not any(isinstance(v, str) for v in last.values())

        try:
            wait_until(answered, timeout=30, interval=1, what=f"answers from node {node}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {last}\n{self.diagnosis()}") from None
        return last

    def probe_until_served(self, node: int, *, user: str = ADMIN, password: str | None = None) -> dict[str, Any]:
        """The task is healthy; its host-mode port may lag a moment behind."""
        last: dict[str, Any] = {}

        def served() -> bool:
            nonlocal last
            last = self.probe(node, user=user, password=password)
            return "error" not in last

        try:
            wait_until(served, timeout=30, interval=1, what=f"the dashboard served at node {node}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {last}\n{self.diagnosis()}") from None
        return last

    def wait_agents(
        self,
        node: int,
        expected: list[str],
        *,
        user: str = ADMIN,
        password: str | None = None,
        timeout: float = 90,
    ) -> list[str]:
        """Until the dashboard at node says exactly the ``expected`` lab nodes (hostnames, sorted)
        have a live agent (the stack's global service: a drained node runs none); the nodes that
        have one. The agents dial out with backoff (up to 30 s between tries) while the dashboard is
        not there yet."""
        last: dict[str, Any] = {}

        def covered() -> bool:
            nonlocal last
            last = self.probe(node, user=user, password=password)
            return last.get("snapshot_agents") == expected

        try:
            wait_until(covered, timeout=timeout, interval=2, what=f"an agent on {', '.join(expected)}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {last}\n{self.diagnosis()}") from None
        return list(last["snapshot_agents"])

    def diagnosis(self) -> str:
        lines = [self.lab.docker("stack", "ps", "--no-trunc", self.name, check=False)]
        for n in range(1, self.lab.nodes + 1):
            ids = self.lab.docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={self.name}", node=n,
                                  check=False).split()  # fmt: skip
            for cid in ids:
                out = subprocess.run([DOCKER, "-H", f"unix://{self.lab.sock(n)}", "logs", "--tail", "30", cid],
                                     capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
                lines.append(f"--- n{n} {cid}:\n{out.stdout}{out.stderr}")
        return "\n".join(lines)

    def remove(self) -> None:
        self.lab.docker("stack", "rm", self.name, check=False)
        label = f"label=com.docker.stack.namespace={self.name}"

        def gone() -> bool:
            return not any(
                self.lab.docker("ps", "-aq", "--filter", label, node=n, check=False)
                for n in range(1, self.lab.nodes + 1)
            )

        try:
            wait_until(gone, timeout=30, interval=0.5, what=f"the containers of {self.name} to go")
        except AssertionError:
            for n in range(1, self.lab.nodes + 1):  # ours only: the filter names this stack
                ids = self.lab.docker("ps", "-aq", "--filter", label, node=n, check=False).split()
                if ids:
                    self.lab.docker("rm", "-f", *ids, node=n, check=False)
        for n in range(1, self.lab.nodes + 1):
            self.lab.docker("volume", "rm", f"{self.name}_data", f"{self.name}_db", node=n, check=False)
        if self.db_node is not None:
            self.lab.docker("node", "update", "--label-rm", DB_LABEL, f"swarm-n{self.db_node}", check=False)
        wait_until(
            lambda: not self.lab.docker("network", "ls", "-q", "--filter", label, check=False),
            timeout=30, interval=0.5, what=f"the networks of {self.name} to go",
        )  # fmt: skip
