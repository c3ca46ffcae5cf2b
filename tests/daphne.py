"""The dashboard as users run it, for the browser tests and the benchmarks: manage.py, and daphne
serving visualizer.asgi on a loopback port until it answers /healthz."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def manage(env: Mapping[str, str], *args: str) -> str:
    """manage.py ARGS in the project, with ``env``; its output, or RuntimeError with its errors."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=dict(env),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def start_daphne(
    env: Mapping[str, str], port: int, log: Path, options: Sequence[str] = (), *, healthy_within: float = 30
) -> subprocess.Popen[bytes]:
    """daphne on 127.0.0.1:``port`` (its output appended to ``log``), once /healthz answers 200."""
    # visualizer.serve: daphne as the image runs it (request bodies capped, never on disk)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "visualizer.serve", *options, "-b", "127.0.0.1", "-p", str(port),
             "visualizer.asgi:application"],
            cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + healthy_within
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard did not become healthy:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
