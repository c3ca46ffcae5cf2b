"""Python side of the swarm lab: start/stop it, and drive Docker the way a user would (the CLI)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "lab" / "swarmlab"
IMAGE = "local/busybox:1"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


class LabUnavailable(Exception):
    """The lab cannot start here (not root, a tool missing); the message says what to do."""


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "the swarm lab needs root (it starts dockerd in network namespaces)"
    tools = ["dockerd", "containerd", "runc", "ip", "busybox", "nsenter", "iptables"]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}: apt-get install -y docker.io busybox-static iproute2 iptables"
    return None


class UnixHTTP(http.client.HTTPConnection):
    """http.client over a unix socket: Docker's own API, read without any Docker library."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.socket_path)
        self.sock = s


def stop_process(proc: subprocess.Popen[Any] | None, *, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL when it has not ended within ``grace`` seconds; an ended process is left alone."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; bounded. Returns that value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class Lab:
    base: str
    prefix: str
    nodes: int
    managers: int
    env: dict[str, str] = field(default_factory=dict)
    up_seconds: float = 0.0

    def _run(self, *args: str, timeout: float = 120) -> str:
        env = {**os.environ, "SWARMLAB_BASE": self.base, "SWARMLAB_PREFIX": self.prefix}
        proc = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"swarmlab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.stdout.strip()

    def up(self) -> Lab:
        t0 = time.monotonic()
        self._run("up", str(self.nodes), str(self.managers))
        self.up_seconds = time.monotonic() - t0
        return self

    def down(self) -> float:
        t0 = time.monotonic()
        self._run("down")
        return time.monotonic() - t0

    def sock(self, n: int = 1) -> str:
        return f"{self.base}/n{n}/docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.sock(1)}"

    def kill(self, n: int) -> None:
        self._run("kill", str(n))

    def restart(self, n: int) -> None:
        self._run("restart", str(n))

    def is_running(self, n: int) -> bool:
        status = self._run("status")
        return f"n{n} up " in status

    # --- the docker CLI, as a user drives it -------------------------------------------------

    def docker(self, *args: str, node: int = 1, timeout: float = 60, check: bool = True) -> str:
        proc = subprocess.run(
            [DOCKER, "-H", f"unix://{self.sock(node)}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def api(self, path: str, *, node: int = 1, timeout: float = 10) -> Any:
        """GET the Engine API directly: the ground truth tests compare the dashboard with."""
        conn = UnixHTTP(self.sock(node), timeout)
        try:
            conn.request("GET", f"/v1.41{path}")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
        return json.loads(body)

    def node_ids(self) -> dict[str, str]:
        """hostname -> node id"""
        return {n["Description"]["Hostname"]: n["ID"] for n in self.api("/nodes")}

    def node_state(self, hostname: str) -> str:
        for n in self.api("/nodes"):
            if n["Description"]["Hostname"] == hostname:
                return str(n["Status"]["State"])
        raise KeyError(hostname)


class Swarm:
    """Per-test helper: creates services and secrets with unique names and removes them after."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.services: list[str] = []
        self.secrets: list[str] = []
        self.killed: set[int] = set()
        self.drained: set[str] = set()

    def name(self, stem: str) -> str:
        return f"{stem}-{uuid.uuid4().hex[:6]}"

    def create_service(
        self,
        stem: str = "svc",
        *,
        replicas: int | None = 1,
        mode: str = "replicated",
        command: tuple[str, ...] = ("sleep", "100000"),
        extra: tuple[str, ...] = (),
        detach: bool = True,
        image: str = IMAGE,
    ) -> str:
        name = self.name(stem)
        args = [
            "service",
            "create",
            "--quiet",
            "--no-resolve-image",
            "--stop-grace-period",
            "1s",
            "--name",
            name,
        ]
        args += ["--detach" if detach else "--detach=false"]
        if mode == "global":
            args += ["--mode", "global"]
        elif replicas is not None:
            args += ["--replicas", str(replicas)]
        args += [*extra, image, *command]
        self.services.append(name)
        self.lab.docker(*args)
        return name

    def scale(self, name: str, replicas: int) -> None:
        self.lab.docker("service", "scale", "--detach", f"{name}={replicas}")

    def remove_service(self, name: str) -> None:
        self.lab.docker("service", "rm", name)
        if name in self.services:
            self.services.remove(name)

    def service_id(self, name: str) -> str:
        return self.lab.docker("service", "inspect", "--format", "{{.ID}}", name)

    def tasks(self, name: str, *, desired: str | None = "running") -> list[dict[str, Any]]:
        filters: dict[str, list[str]] = {"service": [name]}
        if desired:
            filters["desired-state"] = [desired]
        return list(self.lab.api("/tasks?filters=" + _quote(json.dumps(filters))))

    def running(self, name: str) -> int:
        return sum(1 for t in self.tasks(name) if t["Status"]["State"] == "running")

    def wait_running(self, name: str, count: int, timeout: float = 30) -> None:
        wait_until(lambda: self.running(name) == count, timeout=timeout, what=f"{count} running tasks of {name}")

    def create_secret(self, stem: str, value: bytes) -> str:
        name = self.name(stem)
        proc = subprocess.run(
            [DOCKER, "-H", f"unix://{self.lab.sock(1)}", "secret", "create", name, "-"],
            input=value,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"secret create failed: {proc.stderr.decode(errors='replace')}")
        self.secrets.append(name)
        return name

    def kill_node(self, n: int) -> None:
        self.killed.add(n)
        self.lab.kill(n)

    def restart_node(self, n: int) -> None:
        self.lab.restart(n)
        self.killed.discard(n)

    def drain(self, hostname: str) -> None:
        self.drained.add(hostname)
        self.lab.docker("node", "update", "--availability", "drain", hostname)

    def activate(self, hostname: str) -> None:
        self.lab.docker("node", "update", "--availability", "active", hostname)
        self.drained.discard(hostname)

    def cleanup(self) -> None:
        """Leave the lab as the next test expects it: every node up and active, nothing of ours left."""
        for n in sorted(self.killed):
            self.lab.restart(n)
        for n in sorted(self.killed):
            host = f"swarm-n{n}"
            wait_until(lambda: self.lab.node_state(host) == "ready", timeout=60, what=f"{host} ready")  # noqa: B023
        for hostname in sorted(self.drained):
            self.lab.docker("node", "update", "--availability", "active", hostname)
        ids = set(self.lab.docker("service", "inspect", "--format", "{{.ID}}", *self.services, check=False).split())
        if self.services:
            self.lab.docker("service", "rm", *self.services, check=False)
        for name in self.secrets:
            self.lab.docker("secret", "rm", name, check=False)
        if ids:
            wait_until(
                lambda: not [t for t in self.lab.api("/tasks") if t.get("ServiceID") in ids],
                timeout=30,
                what="the removed services' tasks to be gone",
            )
        self.services.clear()
        self.secrets.clear()
        self.killed.clear()
        self.drained.clear()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
