"""deploy/entrypoint.sh started on loopback the way the container starts it: migrate, first admin, daphne."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.lab import stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    key = tmp_path / "secret_key"
    key.write_text("k" * 50 + "\n")
    drop = ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "SECRET_KEY", "DATABASE_URL", "URL_PREFIX")
    return {
        **{k: v for k, v in os.environ.items() if k not in drop},
        # the image's PATH puts its virtualenv first; so does this
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY_FILE": str(key),
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
        "ALLOWED_HOSTS": "127.0.0.1",
        "BIND": "127.0.0.1",
        **extra,
    }


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    port = int(env.get("PORT") or free_port())
    log = Path(env["DATA_DIR"]).with_name(f"entrypoint-{port}.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(["sh", str(ENTRYPOINT)], env={**env, "PORT": str(port)}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # 503 is fine here: no Docker behind it, the process serves all the same
                urllib.request.urlopen(f"{url}/accounts/login/", timeout=2).close()  # noqa: S310 - loopback
                break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the entrypoint did not serve:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc, grace=15)
    env["LOG"] = log.read_text()
