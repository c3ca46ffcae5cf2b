"""Liveness apart from readiness: the image's HEALTHCHECK passes while the process serves, even when
Docker is gone, so that Swarm does not kill the dashboard at the moment it should say "Docker lost"."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.deploy.serve import ROOT, environment, serving


def status_of(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - loopback
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def healthcheck_command() -> list[str]:
    line = next(x for x in (ROOT / "deploy" / "Dockerfile").read_text().splitlines() if x.startswith("HEALTHCHECK"))
    command = json.loads(re.sub(r"^.*? CMD ", "", line))
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_the_stacks_check_health_as_the_image_does() -> None:
    image = healthcheck_command()
    for name in ("stack.yml", "stack.socket-proxy.yml"):
        # the dashboard's healthcheck is the file's only `test:` holding the python check (a YAML flow list)
        tests = [
            json.loads(line.split("test:", 1)[1])
            for line in (ROOT / "deploy" / name).read_text().splitlines()
            if line.strip().startswith("test:") and "urllib" in line
        ]
        assert tests == [["CMD", *image]], f"deploy/{name} checks health another way than the image"


def test_it_stays_alive_while_docker_is_gone_and_says_not_ready(tmp_path: Path) -> None:
    env = environment(tmp_path)  # DOCKER_HOST names a socket nobody serves
    with serving(env) as url:
        ready, body = status_of(f"{url}/healthz")
        assert ready == 503 and body["docker"] in ("reconnecting", "error", "connecting"), body
        alive, body = status_of(f"{url}/livez")
        assert alive == 200 and body["status"] == "ok" and body["default"]["watcher"] == "running", body
        # the image's own HEALTHCHECK, run as Docker runs it (python is the image's virtualenv's)
        command = healthcheck_command()
        assert command[0] == "python"
        port = url.rsplit(":", 1)[1]
        check = subprocess.run(
            [sys.executable, *command[1:]], env={**env, "PORT": port}, capture_output=True, text=True, timeout=30,
            check=False,
        )  # fmt: skip
        assert check.returncode == 0, f"the HEALTHCHECK fails while the process serves: {check.stderr[-500:]}"


def test_a_docker_host_that_names_no_daemon_is_said_and_the_process_stays_alive(tmp_path: Path) -> None:
    env = environment(tmp_path, DOCKER_HOST="bogus:2375")
    with serving(env) as url:
        ready, body = status_of(f"{url}/healthz")
        assert ready == 503 and "DOCKER_HOST" in body["reason"], body
        alive, body = status_of(f"{url}/livez")
        assert alive == 200 and body["status"] == "ok", body
