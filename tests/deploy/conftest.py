"""The deploy tier: the image built without a registry, deployed as a stack on the real lab swarm.

Timings are collected in TIMINGS and printed at the end of the run (cold: nothing cached; warm: the
base image tarball and the wheelhouse come from the cache, see tests/deploy/images.py).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import IN_CI
from tests.deploy import images
from tests.lab import DOCKER, Lab

TIMINGS: dict[str, str] = {}


def record(name: str, started: float, note: str = "") -> None:
    TIMINGS[name] = f"{time.monotonic() - started:.1f}s{f' ({note})' if note else ''}"


def require(why: str | None) -> None:
    """Skip with the reason locally; under CI=true every test must run, so fail instead."""
    if why:
        pytest.fail(f"CI=true and: {why}") if IN_CI else pytest.skip(why)


@dataclass(frozen=True)
class Images:
    app: str
    proxy: str


@pytest.fixture(scope="session")
def stack_images(lab3: Lab) -> Images:
    """The dashboard's and the socket proxy's images, built on node 1 and loaded on every other node."""
    require(images.missing_tools())
    t0 = time.monotonic()
    tar, cached = images.base_tarball()
    record("base image tarball", t0, "cached" if cached else "debootstrap")
    t0 = time.monotonic()
    lab3.docker("import", "-c", "ENV LANG=C.UTF-8", str(tar), images.BASE_TAG, timeout=300)
    record("base image import", t0)

    t0 = time.monotonic()
    wheels, cached = images.wheelhouse()
    record("wheelhouse", t0, "cached" if cached else "pip download")
    # a unique tag per build: redeploying a tag the nodes already hold would replace nothing
    build = uuid.uuid4().hex[:8]
    app, proxy = f"swarm-visualizer:t{build}", f"swarm-visualizer-socket-proxy:t{build}"
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(images.ROOT / "deploy" / "build.sh"), "--tag", app, "--proxy-tag", proxy, "--base-image", images.BASE_TAG,
         "--wheelhouse", str(wheels)],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "DOCKER": DOCKER, "DOCKER_HOST": lab3.docker_host, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"deploy/build.sh failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    record("image build (dashboard and socket proxy)", t0)

    t0 = time.monotonic()
    saved = f"{lab3.base}/deploy-images-{build}.tar"
    lab3.docker("save", "-o", saved, app, proxy, timeout=300)
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
    return Images(app, proxy)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("deploy timings")
        for name, value in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {value}")
