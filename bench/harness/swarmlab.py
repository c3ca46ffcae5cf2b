"""The swarm lab, and Docker's own Engine API over a unix socket: a blocking client and a task poller."""

from __future__ import annotations

import contextlib
import http.client
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.lab import UnixHTTP

# --- Docker's own API, over a unix socket ----------------------------------------------------------------


class DockerAPI:
    """A small blocking Engine API client (one keep-alive connection; one user thread)."""

    def __init__(self, sock: str, timeout: float = 15.0) -> None:
        self.sock = sock
        self.timeout = timeout
        self._conn: UnixHTTP | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = UnixHTTP(self.sock, self.timeout)
            try:
                self._conn.request(method, f"/v1.41{path}", body=data, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
        return json.loads(raw) if raw.strip() else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        query = urllib.parse.quote(json.dumps({"service": [service_id]}), safe="")
        return list(self.request("GET", f"/tasks?filters={query}"))

    def scale(self, service_id: str, replicas: int) -> None:
        """What `docker service scale` does: the current spec with new replicas, at its version."""
        current = self.request("GET", f"/services/{service_id}")
        spec = current["Spec"]
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        self.request("POST", f"/services/{service_id}/update?version={current['Version']['Index']}", spec)

    def create_service(self, name: str, replicas: int, image: str = "local/busybox:1") -> str:
        spec = {
            "Name": name,
            "TaskTemplate": {
                "ContainerSpec": {"Image": image, "Args": ["sleep", "100000"], "StopGracePeriod": 1_000_000_000},
                "RestartPolicy": {"Condition": "any"},
            },
            "Mode": {"Replicated": {"Replicas": replicas}},
        }
        return str(self.request("POST", "/services/create", spec)["ID"])

    def remove_service(self, service_id: str) -> None:
        self.request("DELETE", f"/services/{service_id}")

    def wait_running(self, service_id: str, count: int, within: float = 30) -> None:
        """Until ``count`` of the service's tasks run, for ``within`` seconds at most."""
        deadline = time.monotonic() + within
        while len(running_ids(self.tasks(service_id))) != count and time.monotonic() < deadline:
            time.sleep(0.1)


def running_ids(tasks: Sequence[dict[str, Any]]) -> frozenset[str]:
    return frozenset(t["ID"] for t in tasks if t.get("Status", {}).get("State") == "running")


class TaskPoller(threading.Thread):
    """Polls one service's tasks as fast as ``interval`` allows: Docker's own view, timestamped."""

    def __init__(self, sock: str, service_id: str, interval: float = 0.02) -> None:
        super().__init__(name="docker-task-poller", daemon=True)
        self.api = DockerAPI(sock)
        self.service_id = service_id
        self.interval = interval
        self.samples: list[tuple[float, frozenset[str], frozenset[str]]] = []  # (monotonic, running, desired)
        self.requests = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.is_set():
            t_sent = time.monotonic()
            try:
                tasks = self.api.tasks(self.service_id)
            except (RuntimeError, OSError, http.client.HTTPException, ValueError):
                time.sleep(self.interval)
                continue
            self.requests += 1
            # the answer reflects Docker somewhere between send and receive: take the middle
            t = (t_sent + time.monotonic()) / 2
            desired = frozenset(t_["ID"] for t_ in tasks if t_.get("DesiredState") == "running")
            with self._lock:
                self.samples.append((t, running_ids(tasks), desired))
            self._halt.wait(max(0.0, self.interval - (time.monotonic() - t_sent)))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.api.close()

    def first(self, after: float, predicate: Callable[[frozenset[str], frozenset[str]], bool]) -> float | None:
        with self._lock:
            samples = list(self.samples)
        for t, running, desired in samples:
            if t >= after and predicate(running, desired):
                return t
        return None


# --- the swarm lab ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def lab(name: str, nodes: int = 3, managers: int = 1) -> Iterator[Any]:
    """A real swarm of its own (deploy/lab/swarmlab) under /tmp/benchlab-NAME, always taken down."""
    from tests.lab import Lab, missing_requirements

    why = missing_requirements()
    if why:
        sys.exit(why)
    the_lab = Lab(base=f"/tmp/benchlab-{name}", prefix=f"bnch{name[:1]}", nodes=nodes, managers=managers)
    if Path(the_lab.base, "state").exists():
        the_lab.down()  # our own leftover from an interrupted run
    try:
        the_lab.up()
        print(f"lab up: {nodes} nodes in {the_lab.up_seconds:.1f}s ({the_lab.base})", file=sys.stderr, flush=True)
        yield the_lab
    finally:
        try:
            seconds = the_lab.down()
            print(f"lab down in {seconds:.1f}s", file=sys.stderr, flush=True)
        except RuntimeError as e:
            print(f"lab teardown problem: {e}", file=sys.stderr, flush=True)
