"""deploy/stack.yml and deploy/stack.socket-proxy.yml, deployed with `docker stack deploy` on a real
3-manager swarm, reached the way a user reaches them: the host-mode port at a node's address."""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.deploy.conftest import Images, record
from tests.lab import DOCKER, Lab, Swarm, wait_until

pytestmark = pytest.mark.deploy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROBE = Path(__file__).with_name("probe.py")
# On a real manager the socket is /var/run/docker.sock; each lab node has its own socket path, but
# its dockerd sees a private /var/lib/docker, so one path there names each node's own socket.
LAB_SOCKET = "/var/lib/docker/visualizer-docker.sock"
ADMIN = "admin"


def lab_env(lab: Lab) -> dict[str, str]:
    text = Path(lab.base, "state", "env").read_text()
    return dict((f"{name}{n}", value) for name, n, value in re.findall(r"SWARMLAB_(\w+?_N)(\d+)=([^;\s]+)", text))


class Stack:
    """One stack of ours on the lab: deploy, find its healthy task, probe it, remove everything of it."""

    def __init__(self, lab: Lab, swarm: Swarm, images: Images, compose: str) -> None:
        self.lab, self.swarm, self.compose = lab, swarm, compose
        self.name = swarm.name("viz").replace("-", "")
        self.env = lab_env(lab)
        self.password = secrets.token_urlsafe(18)
        self.port = random.randint(20000, 29999)
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
        }

    def deploy(self) -> None:
        proc = subprocess.run(
            [DOCKER, "-H", f"unix://{self.lab.sock(1)}", "stack", "deploy", "--resolve-image", "never",
             "-c", str(DEPLOY / self.compose), self.name],
            capture_output=True, text=True, timeout=120, env={**os.environ, **self.variables},
        )  # fmt: skip
        assert proc.returncode == 0, f"stack deploy failed: {proc.stderr}"

    def service(self, name: str = "visualizer") -> str:
        return f"{self.name}_{name}"

    def healthy_node(self, service: str, *, not_on: frozenset[int] = frozenset()) -> int | None:
        """The node whose running task of ``service`` reports healthy, when there is one."""
        filters = quote(json.dumps({"service": [service], "desired-state": ["running"]}), safe="")
        for task in self.lab.api(f"/tasks?filters={filters}"):
            if task["Status"]["State"] != "running":
                continue
            hostname = self.lab.api(f"/nodes/{task['NodeID']}")["Description"]["Hostname"]
            n = int(hostname.removeprefix("swarm-n"))
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

    def probe(self, node: int, *, prefix: str = "") -> dict[str, Any]:
        """Sign in, read the snapshot and the websocket's first message at node's address, from node 1's
        namespace: the host itself has no route to the lab's addresses."""
        url = f"http://{self.env[f'IP_N{node}']}:{self.port}{prefix}"
        proc = subprocess.run(
            ["ip", "netns", "exec", self.env["NETNS_N1"], sys.executable, str(PROBE), url, ADMIN],
            capture_output=True, text=True, timeout=90, env={**os.environ, "PROBE_PASSWORD": self.password},
        )  # fmt: skip
        assert proc.returncode == 0, f"the probe failed: {proc.stderr[-2000:]}"
        return dict(json.loads(proc.stdout))

    def probe_until_served(self, node: int) -> dict[str, Any]:
        """The task is healthy; its host-mode port may lag a moment behind."""
        last: dict[str, Any] = {}

        def served() -> bool:
            nonlocal last
            last = self.probe(node)
            return "error" not in last

        try:
            wait_until(served, timeout=30, interval=1, what=f"the dashboard served at node {node}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {last}\n{self.diagnosis()}") from None
        return last

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
            self.lab.docker("volume", "rm", f"{self.name}_data", node=n, check=False)
        wait_until(
            lambda: not self.lab.docker("network", "ls", "-q", "--filter", label, check=False),
            timeout=30, interval=0.5, what=f"the networks of {self.name} to go",
        )  # fmt: skip


@pytest.fixture
def stack(lab3: Lab, swarm3: Swarm, stack_images: Images) -> Iterator[Stack]:
    s = Stack(lab3, swarm3, stack_images, "stack.yml")
    yield s
    s.remove()  # before swarm3's cleanup removes the secrets the stack holds


@pytest.fixture
def proxied_stack(lab3: Lab, swarm3: Swarm, stack_images: Images) -> Iterator[Stack]:
    s = Stack(lab3, swarm3, stack_images, "stack.socket-proxy.yml")
    yield s
    s.remove()


def test_it_runs_on_a_manager_and_comes_back_on_another_when_its_node_is_drained(stack: Stack) -> None:
    t0 = time.monotonic()
    stack.deploy()
    first = stack.wait_healthy(stack.service(), timeout=120)
    record("stack deploy to healthy", t0)

    seen = stack.probe_until_served(first)
    expected = [f"swarm-n{n}" for n in range(1, stack.lab.nodes + 1)]
    assert seen["healthz"] == 200
    assert seen["after_login"].endswith(f":{stack.port}/"), "the login did not lead to the grid"
    assert seen["snapshot_nodes"] == expected, "the dashboard did not list the lab's nodes through its socket"
    assert (seen["ws_type"], seen["ws_nodes"]) == ("snapshot", expected)

    t0 = time.monotonic()
    stack.swarm.drain(f"swarm-n{first}")
    second = stack.wait_healthy(stack.service(), timeout=120, not_on=frozenset({first}))
    record("failover after drain (to healthy on another manager)", t0, f"n{first} -> n{second}")

    # a fresh, empty volume on the new node: the admin comes from the secret again
    seen = stack.probe_until_served(second)
    assert seen["snapshot_nodes"] == expected
    assert (seen["ws_type"], seen["ws_nodes"]) == ("snapshot", expected)
    assert stack.lab.api(f"/nodes/swarm-n{second}")["Spec"]["Role"] == "manager"


def test_it_reads_docker_only_through_the_read_only_socket_proxy(proxied_stack: Stack) -> None:
    stack = proxied_stack
    t0 = time.monotonic()
    stack.deploy()
    stack.wait_healthy(stack.service("socket-proxy"), timeout=120)
    node = stack.wait_healthy(stack.service(), timeout=120)
    record("socket-proxy stack deploy to healthy", t0)

    seen = stack.probe_until_served(node)
    expected = [f"swarm-n{n}" for n in range(1, stack.lab.nodes + 1)]
    assert seen["snapshot_nodes"] == expected
    assert (seen["ws_type"], seen["ws_nodes"]) == ("snapshot", expected)

    # from inside the dashboard's container: the proxy reads, and refuses a write and the join tokens
    container = stack.lab.docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack.service()}", node=node
    ).split()[0]
    asked = stack.lab.docker("exec", container, "python", "-c", _ASK_PROXY, node=node, timeout=60)
    assert json.loads(asked) == {"GET /v1.41/nodes": 200, "POST /v1.41/services/create": 403, "GET /v1.41/swarm": 403}
    assert not stack.lab.docker("exec", container, "ls", "/var/run/docker.sock", node=node, check=False)


_ASK_PROXY = """
import http.client, json
out = {}
for method, path in [("GET", "/v1.41/nodes"), ("POST", "/v1.41/services/create"), ("GET", "/v1.41/swarm")]:
    c = http.client.HTTPConnection("socket-proxy", 2375, timeout=10)
    c.request(method, path, body=b"{}" if method == "POST" else None)
    out[f"{method} {path}"] = c.getresponse().status
print(json.dumps(out))
"""
