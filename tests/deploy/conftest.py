"""The deploy tier: the image built without a registry, deployed as a stack on the real lab swarm.

Timings are collected in TIMINGS and printed at the end of the run (cold: nothing cached; warm: the
base image tarball and the wheelhouse come from the cache, see tests/deploy/images.py).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI
from tests.deploy import images
from tests.deploy.images import Images
from tests.deploy.stack import Stack
from tests.lab import DOCKER, Lab, Swarm

TIMINGS: dict[str, str] = {}


def record(name: str, started: float, note: str = "") -> None:
    TIMINGS[name] = f"{time.monotonic() - started:.1f}s{f' ({note})' if note else ''}"


def require(why: str | None) -> None:
    """Skip with the reason locally; under CI=true every test must run, so fail instead."""
    if why:
        pytest.fail(f"CI=true and: {why}") if IN_CI else pytest.skip(why)


@pytest.fixture(scope="session")
def stack_images(lab3: Lab) -> Images:
    """The dashboard's, the socket proxy's, PostgreSQL's and Redis's images, built on node 1 and loaded on every
    other node."""
    require(images.missing_tools())
    for what, make, tag in [
        ("base image", images.base_tarball, images.BASE_TAG),
        ("PostgreSQL base image", images.postgres_base_tarball, images.POSTGRES_BASE_TAG),
        ("Redis base image", images.redis_base_tarball, images.REDIS_BASE_TAG),
    ]:
        t0 = time.monotonic()
        tar, cached = make()
        record(f"{what} tarball", t0, "cached" if cached else "debootstrap")
        t0 = time.monotonic()
        lab3.docker("import", "-c", "ENV LANG=C.UTF-8", str(tar), tag, timeout=300)
        record(f"{what} import", t0)

    t0 = time.monotonic()
    wheels, cached = images.wheelhouse()
    record("wheelhouse", t0, "cached" if cached else "pip download")
    # a unique tag per build: redeploying a tag the nodes already hold would replace nothing
    build = uuid.uuid4().hex[:8]
    app, proxy = f"swarm-visualizer:t{build}", f"swarm-visualizer-socket-proxy:t{build}"
    db, redis = f"swarm-visualizer-postgres:t{build}", f"swarm-visualizer-redis:t{build}"
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(images.ROOT / "deploy" / "build.sh"), "--tag", app, "--proxy-tag", proxy, "--base-image", images.BASE_TAG,
         "--wheelhouse", str(wheels), "--db-tag", db, "--db-base-image", images.POSTGRES_BASE_TAG,
         "--redis-tag", redis, "--redis-base-image", images.REDIS_BASE_TAG],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "DOCKER": DOCKER, "DOCKER_HOST": lab3.docker_host, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"deploy/build.sh failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    record("image build (dashboard, socket proxy, PostgreSQL, Redis)", t0)

    t0 = time.monotonic()
    saved = f"{lab3.base}/deploy-images-{build}.tar"
    lab3.docker("save", "-o", saved, app, proxy, db, redis, timeout=300)
    others = [
        subprocess.Popen([DOCKER, "-H", f"unix://{lab3.sock(n)}", "load", "-q", "-i", saved], stdout=subprocess.DEVNULL)
        for n in range(2, lab3.nodes + 1)
    ]
    if any(p.wait(timeout=300) != 0 for p in others):
        pytest.fail("docker load of the images failed on a node")
    os.unlink(saved)
    record("image copy to the other nodes (save | load)", t0)
    size = int(lab3.docker("image", "inspect", "--format", "{{.Size}}", app))
    base = int(lab3.docker("image", "inspect", "--format", "{{.Size}}", images.BASE_TAG))
    TIMINGS["image size"] = f"{size / 1e6:.0f} MB (base {base / 1e6:.0f} MB + {(size - base) / 1e6:.0f} MB)"
    db_size = int(lab3.docker("image", "inspect", "--format", "{{.Size}}", db))
    TIMINGS["PostgreSQL image size"] = f"{db_size / 1e6:.0f} MB"
    redis_size = int(lab3.docker("image", "inspect", "--format", "{{.Size}}", redis))
    TIMINGS["Redis image size"] = f"{redis_size / 1e6:.0f} MB"
    return Images(app, proxy, db, redis)


@pytest.fixture
def stack(lab3: Lab, swarm3: Swarm, stack_images: Images) -> Iterator[Stack]:
    """deploy/stack.yml, ready to deploy on the lab; removed after the test."""
    s = Stack(lab3, swarm3, stack_images, "stack.yml")
    yield s
    s.remove()  # before swarm3's cleanup removes the secrets the stack holds


@pytest.fixture
def proxied_stack(lab3: Lab, swarm3: Swarm, stack_images: Images) -> Iterator[Stack]:
    s = Stack(lab3, swarm3, stack_images, "stack.socket-proxy.yml")
    yield s
    s.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("deploy timings")
        for name, value in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {value}")
