"""What every benchmark needs: a swarm lab, the simulator, the dashboard under daphne, viewers, tables.

Everything started here is stopped here, by the object that started it: the lab by its own
SWARMLAB_BASE/SWARMLAB_PREFIX, processes by their pid. SIGTERM becomes KeyboardInterrupt so that
the ``finally`` blocks run.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from tests.daphne import manage, start_daphne
from tests.lab import UnixHTTP, stop_process

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
BENCH_USER = "bench-viewer"
BENCH_PASSWORD = "bench-viewer-pass-7391"  # noqa: S105 - a throwaway account in a temporary database


# --- process hygiene ---------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _raise_interrupt)


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        sys.exit(f"{what} needs root (the swarm lab starts dockerd in network namespaces)")


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        sys.exit("chromium is missing: apt-get install -y chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- figures -------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers], *[[fmt(c) for c in row] for row in rows]]
    numeric = [[_numeric(c) for c in row] for row in cells[1:]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row, nums in zip(cells[1:], numeric, strict=True):
        lines.append("  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, nums, strict=True)))
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def machine() -> dict[str, Any]:
    """When and on what: date, CPUs, load, and the code measured (commit plus uncommitted files)."""
    load = os.getloadavg()

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        return proc.stdout.strip()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in load],
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("diff", "--name-only", "HEAD", "--", "dashboard", "static", "visualizer").split(),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


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


# --- the simulator, in its own process -----------------------------------------------------------------


class SimHost:
    """bench.simhost as a child process; ``call`` sends one command and returns its answer."""

    def __init__(self, *, nodes: int, tasks: int, step_delay: float = 0.05, seed: int = 1) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-sim-")
        self.socket = f"{self.dir}/docker.sock"
        self.args = ["--nodes", str(nodes), "--tasks", str(tasks), "--step-delay", str(step_delay)]
        self.args += ["--seed", str(seed), "--socket", self.socket]
        self.proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> SimHost:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.simhost", *self.args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the simulator builds its swarm first: seconds at 20,000 tasks
        if not line or not json.loads(line).get("ready"):
            raise RuntimeError(f"the simulator did not start: {line!r}")
        return self

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
            self.proc.stdin.flush()
            answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"simulator {op}: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.call("stop")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SimHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the dashboard under daphne ------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Dashboard:
    """The dashboard as users run it: daphne serving visualizer.asgi, with a temporary DATA_DIR."""

    docker_host: str
    env: dict[str, str] = field(default_factory=dict)
    daphne_args: list[str] = field(default_factory=list)  # extra daphne options (none: as deployed)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    cookie: str = ""

    def __post_init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-dash-"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data_dir / "daphne.log"
        self.full_env = {
            **os.environ,
            "DOCKER_HOST": self.docker_host,
            "DATA_DIR": str(self.data_dir),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "visualizer.settings",
            **self.env,
        }

    def manage(self, *args: str, extra: dict[str, str] | None = None) -> None:
        manage({**self.full_env, **(extra or {})}, *args)

    def start(self, healthy_within: float = 90) -> Dashboard:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("adduser", BENCH_USER, "--role", "viewer", extra={"ADDUSER_PASSWORD": BENCH_PASSWORD})
        self.proc = start_daphne(self.full_env, self.port, self.log, self.daphne_args, healthy_within=healthy_within)
        self.cookie = self.login()
        return self

    def login(self) -> str:
        """Sign in through the login form; returns the Cookie header value of the session."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
        with opener.open(f"{self.url}/accounts/login/", timeout=30) as r:
            page = r.read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if match is None:
            raise RuntimeError("no CSRF token on the login page")
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1), "username": BENCH_USER, "password": BENCH_PASSWORD}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}/accounts/login/",
            data=form,
            headers={"Origin": self.url, "Referer": f"{self.url}/accounts/login/"},
        )
        try:
            opener.open(request, timeout=30).close()
        except urllib.error.HTTPError as e:
            if e.code != 302:
                raise
        cookies = {c.name: c.value for c in jar}
        if "sessionid" not in cookies:
            raise RuntimeError(f"login failed (cookies: {sorted(cookies)})")
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def get_json(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Cookie": self.cookie})  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 - loopback
            return json.loads(r.read())

    def requests(self) -> dict[str, int]:
        """The dashboard's own count of its Docker requests, by endpoint (GET /api/metrics)."""
        return dict(self.get_json("/api/metrics")["docker_requests"])

    def session_value(self) -> str:
        return dict(part.split("=", 1) for part in self.cookie.split("; "))["sessionid"]

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def request_rates(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    return {k: (after.get(k, 0) - before.get(k, 0)) / seconds for k in sorted(set(before) | set(after))}


# --- viewers ---------------------------------------------------------------------------------------------


@dataclass
class WsViewer:
    """One websocket viewer of /ws/swarm, as the page's script is: signed in, with an Origin header."""

    messages: int = 0
    patches: int = 0
    bytes: int = 0
    snapshot_done: bool = False
    closed: str = ""


async def ws_viewer(dash: Dashboard, viewer: WsViewer, stop: Any) -> None:
    """Read every frame until ``stop`` (an asyncio.Event) is set."""
    import asyncio

    import aiohttp

    headers = {"Cookie": dash.cookie, "Origin": dash.url}
    url = dash.url.replace("http://", "ws://") + "/ws/swarm"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, headers=headers, max_msg_size=0, heartbeat=None) as ws:
            reader = asyncio.ensure_future(ws.receive())
            waiter = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    done, _ = await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
                    if waiter in done:
                        break
                    msg = reader.result()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        viewer.closed = str(msg.type)
                        break
                    viewer.messages += 1
                    viewer.bytes += len(msg.data)
                    kind = json.loads(msg.data).get("type")
                    if kind == "patch":
                        viewer.patches += 1
                    elif kind in ("snapshot", "tasks") and not json.loads(msg.data).get("more"):
                        viewer.snapshot_done = True
                    reader = asyncio.ensure_future(ws.receive())
            finally:
                reader.cancel()
                waiter.cancel()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright (never a downloaded browser)."""
    from playwright.async_api import async_playwright

    need_chromium()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def grid_context(browser: Any, dash: Dashboard) -> Any:
    """A browser context signed in with the dashboard's session cookie.

    ``bypass_csp``: the benchmark's probes are evaluated strings, which the page's CSP forbids.
    """
    context = await browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    await context.add_cookies([{"name": "sessionid", "value": dash.session_value(), "url": dash.url}])
    return context
