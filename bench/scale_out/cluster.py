"""What the scale-out runs start: Redis, dashboard processes sharing it, viewer fleets, a probe on the
patch stream, and what /proc says about each process (CPU, RSS) and the kernel (bytes sent))."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from tests.lab import stop_process
from tests.redisd import RedisServer

SWARM = "default"  # dashboard.core.registry.DEFAULT: the one swarm of DOCKER_HOST


def raise_open_files() -> None:
    """The dashboards inherit it: a process serving 1,000 sockets needs more than 1,024 files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- what /proc says about a process --------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    at: float
    cpu: float  # utime + stime, seconds
    rss: int  # bytes
    hwm: int  # peak RSS since the process started, bytes
    waited: float  # seconds its main thread (the event loop) was runnable but waited for a CPU

    def cpu_share(self, later: Usage) -> float:
        """Percent of one core between the two readings."""
        return 100 * (later.cpu - self.cpu) / max(1e-9, later.at - self.at)

    def wait_share(self, later: Usage) -> float:
        """Percent of the wall time its event loop was ready to run but had no CPU (a shared machine)."""
        return 100 * (later.waited - self.waited) / max(1e-9, later.at - self.at)


def usage(pid: int) -> Usage:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    with open(f"/proc/{pid}/schedstat") as f:
        waited = int(f.read().split()[1]) / 1e9
    return Usage(
        at=time.monotonic(),
        waited=waited,
        cpu=(int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"),
        rss=int(status["VmRSS"][0]) * 1024,
        hwm=int(status["VmHWM"][0]) * 1024,
    )


class PeakRss(threading.Thread):
    """The largest RSS of each process, sampled every ``every`` seconds; ``over`` is set when one
    passes ``limit`` (the run then stops its viewers: the machine is shared)."""

    def __init__(self, pids: list[int], limit: int, every: float = 0.1) -> None:
        super().__init__(name="peak-rss", daemon=True)
        self.pids = pids
        self.limit = limit
        self.every = every
        self.peak = dict.fromkeys(pids, 0)
        self.over = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            for pid in self.pids:
                with contextlib.suppress(OSError, KeyError):
                    rss = usage(pid).rss
                    self.peak[pid] = max(self.peak[pid], rss)
                    if rss > self.limit:
                        self.over.set()

    def stop(self) -> dict[int, int]:
        self._halt.set()
        self.join(timeout=5)
        return self.peak


def sent_on_port(port: int) -> tuple[int, int]:
    """TCP bytes sent by the server on its open connections at ``port`` (the kernel's tcp_info,
    ``ss -ti``: HTTP upgrade, websocket frames, compressed or not, as on the wire), and how many.
    /proc/PID/io cannot say: ``wchar`` does not count send() on sockets."""
    proc = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    sent = [int(m) for m in re.findall(r"\bbytes_sent:(\d+)", proc.stdout)]
    return sum(sent), len(sent)


# --- the patch stream, read as it is written -------------------------------------------------------------


class StreamProbe(threading.Thread):
    """Stamps each patch as the leader writes it into Redis: a blocking XREAD on the model's stream
    (dashboard.core.shared.replica: ``NS:default:log``, entries of kind ``p`` with epoch and seq)
    from this process, which serves no viewer. This is the moment every process can first see it."""

    def __init__(self, redis_socket: str, namespace: str) -> None:
        super().__init__(name="stream-probe", daemon=True)
        import redis

        self.client = redis.Redis(unix_socket_path=redis_socket, socket_timeout=10)
        self.key = f"{namespace}:{SWARM}:log"
        self.published: dict[str, float] = {}
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        last = "$"
        while not self._halt.is_set():
            try:
                answer: Any = self.client.xread({self.key: last}, block=500)
            except Exception:  # Redis gone while stopping; a run without a stream has no probe figures
                if self._halt.wait(0.5):
                    return
                continue
            now = time.monotonic()
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    last = entry_id
                    if fields.get(b"kind") == b"p":
                        key = f"{int(fields[b'epoch'])}:{int(fields[b'seq'])}"
                        with self._lock:
                            self.published.setdefault(key, now)

    def commands(self) -> dict[str, int]:
        """Redis's own count of the commands it ran, by command (INFO commandstats)."""
        import redis

        with redis.Redis(unix_socket_path=self.client.connection_pool.connection_kwargs["path"]) as client:
            stats: dict[str, Any] = client.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}

    def between(self, t0: float, t1: float) -> dict[str, float]:
        with self._lock:
            return {k: t for k, t in self.published.items() if t0 <= t <= t1}

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.client.close()


# --- Redis and the dashboards on it ----------------------------------------------------------------------

# Put on PYTHONPATH of a dashboard process (--profile): cProfile from start to exit (daphne returns
# from its reactor on SIGTERM, so atexit runs). The code measured is not touched; its figures are
# slower under the profiler and are not the run's figures.
_SITECUSTOMIZE = """
import atexit, cProfile, os, sys
_profile = cProfile.Profile()
_profile.enable()
def _dump():
    _profile.disable()
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]  # serve (daphne), manage (its set-up)
    _profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"], f"{name}-{os.getpid()}.prof"))
atexit.register(_dump)
"""


def profile_env(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return {"PYTHONPATH": f"{hook}:{harness.ROOT}", "BENCH_PROFILE_DIR": str(folder)}


def profile_summary(path: Path, top: int = 25) -> str:
    """The functions that took the most time of their own, and the most time with their callees."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


_LOGGED = re.compile(r" (WARNING|ERROR|CRITICAL) ([\w.]+): (.*)")
_VARIABLE = re.compile(r"<[^>]*>|\[[^\]]*\]|\(epoch \d+\)|bench\d+|\d+")


def log_problems(log: Path) -> Counter[str]:
    """A dashboard's warnings and errors, counted by message with its numbers and objects blanked out:
    read before its folder goes (Dashboard.stop removes it)."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError), log.open(errors="replace") as f:
        for line in f:
            match = _LOGGED.search(line)
            if match:
                found[f"{match[1]} {match[2]}: {_VARIABLE.sub('…', match[3])[:160]}"] += 1
    return found


class Cluster:
    """A redis-server of its own (a unix socket, no persistence) and dashboard processes on it."""

    def __init__(self, docker_host: str, profile: Path | None = None) -> None:
        self.docker_host = docker_host
        self.profile = profile  # a folder: every dashboard process runs under cProfile
        self.folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.redis = RedisServer(self.folder)
        self.namespace = ""
        self.dashboards: list[harness.Dashboard] = []
        self.problems: list[dict[str, int]] = []  # per process stopped: its log's warnings, counted
        self.renew()

    def renew(self) -> None:
        """A fresh deployment on the same Redis: the processes so far are stopped, a new namespace."""
        self.stop_dashboards()
        self.namespace = f"bench{time.monotonic_ns()}"

    def add(self, healthy_within: float = 180) -> harness.Dashboard:
        env = {"REDIS_URL": self.redis.url, "REDIS_NAMESPACE": self.namespace, "LOG_LEVEL": "WARNING"}
        if self.profile is not None:
            env |= profile_env(self.profile)
        dash = harness.Dashboard(self.docker_host, env=env)
        self.dashboards.append(dash)
        dash.start(healthy_within=healthy_within)
        return dash

    def metrics(self, dash: harness.Dashboard) -> dict[str, Any]:
        return dict(dash.get_json("/api/metrics"))

    def wait_one_leader(self, within: float = 30) -> harness.Dashboard:
        deadline = time.monotonic() + within
        while True:
            leading = [d for d in self.dashboards if self.metrics(d)["leading"]]
            if len(leading) == 1:
                return leading[0]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(leading)} of {len(self.dashboards)} processes lead after {within} s")
            time.sleep(0.2)

    def probe(self) -> StreamProbe:
        probe = StreamProbe(str(self.redis.socket), self.namespace)
        probe.start()
        return probe

    def pids(self) -> list[int]:
        return [d.proc.pid for d in self.dashboards if d.proc is not None]

    def stop_dashboards(self) -> None:
        for dash in self.dashboards:
            stop_process(dash.proc)  # its last words in the log first: Dashboard.stop removes the folder
            self.problems.append(dict(log_problems(dash.log)))
            dash.stop()
        self.dashboards = []

    def close(self) -> None:
        self.stop_dashboards()
        self.redis.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- a fleet of viewers in a process of its own ----------------------------------------------------------


class FleetHost:
    """bench.scale_out.fleet as a child process; ``call`` sends one command and waits for its answer
    at most ``timeout`` seconds (then the child is killed: an answer that never comes ends it)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-fleet-", suffix=".log", delete=False)
        self._lock = threading.Lock()

    def start(self) -> FleetHost:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.scale_out.fleet"],
            cwd=harness.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip
        ready = self._read(30)
        if not ready.get("ready"):
            raise RuntimeError(f"the viewer fleet did not start: {ready}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        proc = self.proc
        timer = threading.Timer(timeout, proc.kill)  # readline has no timeout of its own
        timer.start()
        try:
            line = proc.stdout.readline() if proc.stdout is not None else ""
        finally:
            timer.cancel()
        if not line:
            raise RuntimeError(f"the viewer fleet ended or gave no answer within {timeout} s (log {self.log.name})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, op: str, within: float = 60, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
            self.proc.stdin.flush()
            answer = self._read(within)
        if "error" in answer:
            raise RuntimeError(f"viewer fleet {op}: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self.call("stop", within=30)
        stop_process(self.proc)
        self.proc = None
        self.log.close()
        log = Path(self.log.name)
        if log.exists() and log.stat().st_size == 0:
            log.unlink()  # kept only when the fleet had something to say

    def __enter__(self) -> FleetHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def fleets(count: int) -> Iterator[list[FleetHost]]:
    hosts: list[FleetHost] = []
    try:
        for _ in range(count):
            hosts.append(FleetHost().start())
        yield hosts
    finally:
        for host in hosts:
            host.stop()
