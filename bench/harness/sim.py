"""The simulator in a process of its own (bench.simhost), so that its CPU is not the measured process's."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Any

from bench.harness.process import ROOT


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
