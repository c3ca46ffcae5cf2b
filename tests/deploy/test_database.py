"""deploy/Dockerfile.postgres and the dashboard's wait for it (deploy/wait_for_database.py), as containers
on a lab node: a cluster made from a password file that takes passwords only, and a dashboard start
that waits for a database that is not there, gives up after DATABASE_WAIT_SECONDS, and gives up at
once on a wrong password."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.images import Images
from tests.lab import DOCKER, Lab, wait_until

pytestmark = pytest.mark.deploy


class Containers:
    """`docker run` on lab node 1; every container of the test removed after it, with its volumes."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.names: list[str] = []

    def run(self, *args: str, timeout: float = 60) -> tuple[str, subprocess.CompletedProcess[str]]:
        name = f"svdb-{secrets.token_hex(4)}"
        self.names.append(name)
        proc = subprocess.run(
            [DOCKER, "-H", f"unix://{self.lab.sock(1)}", "run", "--name", name, *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        return name, proc

    def remove(self) -> None:
        if self.names:
            self.lab.docker("rm", "-f", "-v", *self.names, check=False)


@pytest.fixture
def containers(lab3: Lab) -> Iterator[Containers]:
    c = Containers(lab3)
    yield c
    c.remove()


def url(password: str) -> str:
    return f"postgres://visualizer:{password}@127.0.0.1:5432/visualizer"


def test_the_database_makes_its_cluster_from_the_secret_and_a_wrong_password_stops_the_start_at_once(
    lab3: Lab, stack_images: Images, containers: Containers
) -> None:
    password = secrets.token_hex(16)
    secret = Path(lab3.base, f"db-password-{secrets.token_hex(4)}")
    secret.write_text(password)
    secret.chmod(0o444)  # a Docker secret is the postgres user's to read; here any user's
    db, proc = containers.run(
        "-d", "--network", "none", "-v", f"{secret}:/run/secrets/db_password:ro",
        "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/db_password", stack_images.db,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    wait_until(
        lambda: lab3.docker("inspect", "--format", "{{.State.Health.Status}}", db, check=False) == "healthy",
        timeout=60, interval=0.5, what="the database's healthcheck",
    )  # fmt: skip
    # the dashboard's image, on the database's own network namespace: a TCP login on 127.0.0.1
    wait = ["python", "deploy/wait_for_database.py"]
    _, right = containers.run("--network", f"container:{db}", "-e", f"DATABASE_URL={url(password)}",
                              "-e", "DATABASE_WAIT_SECONDS=20", stack_images.app, *wait)  # fmt: skip
    assert right.returncode == 0, right.stderr

    t0 = time.monotonic()
    wrong = secrets.token_hex(16)
    _, refused = containers.run("--network", f"container:{db}", "-e", f"DATABASE_URL={url(wrong)}",
                                "-e", "DATABASE_WAIT_SECONDS=20", stack_images.app, *wait)  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert time.monotonic() - t0 < 15, f"a wrong password was waited for like a database not up yet:\n{refused.stderr}"
    assert "wait_for_database: the database at 127.0.0.1:5432/visualizer refused us" in refused.stderr
    assert wrong not in refused.stderr + refused.stdout
    assert password not in lab3.docker("logs", db) + lab3.docker("inspect", db)


def test_the_dashboard_waits_for_a_database_that_is_not_there_and_gives_up_after_the_bound(
    lab3: Lab, stack_images: Images, containers: Containers
) -> None:
    t0 = time.monotonic()
    # the image's own start (entrypoint: wait, migrate, first admin, daphne) with nothing on port 5432
    _, start = containers.run("--network", "none", "-e", f"DATABASE_URL={url('x')}",
                              "-e", "DATABASE_WAIT_SECONDS=3", stack_images.app, timeout=90)  # fmt: skip
    took = time.monotonic() - t0
    assert start.returncode == 1, start.stderr
    assert "wait_for_database: waiting for the database at 127.0.0.1:5432/visualizer" in start.stderr
    assert "wait_for_database: no database at 127.0.0.1:5432/visualizer after 3 s" in start.stderr
    assert 3 <= took < 60
    assert "Listening" not in start.stderr, "daphne started without a database"
