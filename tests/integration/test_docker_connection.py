"""How the dashboard's Docker connection fails and recovers, on real daemons.

A frozen connection (a proxy stopped with SIGSTOP), TLS with client certificates through a TLS
proxy (a good setup, a wrong CA, a client certificate the daemon does not accept, missing files),
a daemon not in swarm mode, a worker, and nothing listening at all: each gives its own clear error.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.core.docker import (
    DaemonUnreachable,
    DockerClient,
    Endpoint,
    NotAManager,
    NotInSwarm,
    TLSProblem,
    check_connection,
)
from dashboard.core.watch import Watcher, WatchSettings
from tests.conftest import IN_CI
from tests.integration.swarmtruth import model_matches
from tests.integration.test_watcher import watching, watching_with
from tests.lab import Lab, missing_requirements
from tests.lab.certs import CA, write_client_dir

ROOT = Path(__file__).resolve().parents[2]


class Proxy:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.lab.proxy", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()  # printed once it listens
        assert self.address, "the proxy did not start"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def unix_proxy(lab: Lab, tmp_path: Path) -> Iterator[Proxy]:
    proxy = Proxy("--listen", f"unix:{tmp_path}/proxy.sock", "--target", lab.sock(1))
    yield proxy
    proxy.stop()


async def test_it_detects_a_frozen_connection_within_the_liveness_bound_and_recovers(
    lab: Lab, unix_proxy: Proxy
) -> None:
    settings = WatchSettings(reconcile=30, liveness=2.0, backoff_initial=0.1, backoff_max=0.5)
    async with watching(f"unix://{unix_proxy.address}", settings) as watcher:
        os.kill(unix_proxy.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        await watcher.wait_for(lambda s: s.status.state == "reconnecting", settings.liveness + 1)
        detected = time.monotonic() - t0
        print(f"frozen connection detected after {detected:.2f}s (liveness bound {settings.liveness}s)")
        assert detected <= settings.liveness + 0.5
        os.kill(unix_proxy.proc.pid, signal.SIGCONT)
        await watcher.wait_for(lambda s: s.status.state == "live", 10)
        await model_matches(lab, watcher)


@pytest.fixture(scope="module")
def tls_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("tls")
    ca, other = CA("lab-ca"), CA("someone-else")
    cert, key = ca.issue("localhost", server=True)
    (base / "server.pem").write_bytes(cert)
    (base / "server.key").write_bytes(key)
    (base / "ca.pem").write_bytes(ca.pem())
    return {"base": base, "ca": ca, "other": other}


@pytest.fixture
def tls_proxy(lab: Lab, tls_world: dict[str, object]) -> Iterator[Proxy]:
    base = tls_world["base"]
    assert isinstance(base, Path)
    proxy = Proxy(
        "--listen", "tcp:127.0.0.1:0", "--target", lab.sock(1),
        "--cert", str(base / "server.pem"), "--key", str(base / "server.key"), "--client-ca", str(base / "ca.pem"),
    )  # fmt: skip
    yield proxy
    proxy.stop()


def _tls_endpoint(proxy: Proxy, cert_path: Path) -> Endpoint:
    return Endpoint.from_env(
        {"DOCKER_HOST": f"tcp://{proxy.address}", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_path)}
    )


async def _connect(endpoint: Endpoint) -> None:
    client, _ = await check_connection(endpoint)
    await client.close()


async def test_it_follows_the_swarm_over_tls_with_client_certificates(
    lab: Lab, tls_proxy: Proxy, tls_world: dict[str, object], tmp_path: Path
) -> None:
    ca = tls_world["ca"]
    assert isinstance(ca, CA)
    certs = write_client_dir(tmp_path / "good", ca=ca)
    endpoint = _tls_endpoint(tls_proxy, certs)
    watcher_settings = WatchSettings(reconcile=1.0, backoff_initial=0.1)
    async with watching_with(lambda: DockerClient(endpoint, request_timeout=3), watcher_settings) as w:
        await model_matches(lab, w)
        assert len(w.snapshot.nodes) == 3


async def test_it_names_a_daemon_certificate_the_ca_does_not_trust(
    tls_proxy: Proxy, tls_world: dict[str, object], tmp_path: Path
) -> None:
    ca, other = tls_world["ca"], tls_world["other"]
    assert isinstance(ca, CA) and isinstance(other, CA)
    certs = write_client_dir(tmp_path / "wrong-ca", ca=other, client_ca=ca)
    with pytest.raises(TLSProblem, match="does not trust"):
        await _connect(_tls_endpoint(tls_proxy, certs))


async def test_it_names_a_client_certificate_the_daemon_refuses(
    tls_proxy: Proxy, tls_world: dict[str, object], tmp_path: Path
) -> None:
    ca, other = tls_world["ca"], tls_world["other"]
    assert isinstance(ca, CA) and isinstance(other, CA)
    certs = write_client_dir(tmp_path / "foreign-client", ca=ca, client_ca=other)
    with pytest.raises(TLSProblem, match="client certificate the daemon accepts"):
        await _connect(_tls_endpoint(tls_proxy, certs))


async def test_it_names_missing_client_certificate_files(
    tls_proxy: Proxy, tls_world: dict[str, object], tmp_path: Path
) -> None:
    ca = tls_world["ca"]
    assert isinstance(ca, CA)
    certs = write_client_dir(tmp_path / "ca-only", ca=ca, files=("ca.pem",))
    with pytest.raises(TLSProblem, match=r"cert\.pem, key\.pem missing in DOCKER_CERT_PATH"):
        await _connect(_tls_endpoint(tls_proxy, certs))


async def test_it_reports_tls_trouble_as_an_error_status_not_a_crash(
    tls_proxy: Proxy, tls_world: dict[str, object], tmp_path: Path
) -> None:
    ca, other = tls_world["ca"], tls_world["other"]
    assert isinstance(ca, CA) and isinstance(other, CA)
    endpoint = _tls_endpoint(tls_proxy, write_client_dir(tmp_path / "bad", ca=other, client_ca=ca))
    watcher = Watcher(lambda: DockerClient(endpoint), WatchSettings(backoff_initial=0.1))
    task = asyncio.create_task(watcher.run())
    try:
        snap = await watcher.wait_for(lambda s: s.status.state == "error", 10)
        assert snap.status.kind == "tls"
        assert "does not trust" in snap.status.reason
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_it_says_a_worker_cannot_serve(lab: Lab) -> None:
    with pytest.raises(NotAManager, match="is a swarm worker"):
        await _connect(Endpoint(host=f"unix://{lab.sock(2)}"))


async def test_it_says_nothing_listens(tmp_path: Path) -> None:
    with pytest.raises(DaemonUnreachable, match="cannot reach Docker at unix://"):
        await _connect(Endpoint(host=f"unix://{tmp_path}/none.sock"))


@pytest.fixture(scope="module")
def plain_daemon() -> Iterator[Lab]:
    """One dockerd that is not in swarm mode."""
    why = missing_requirements()
    if why:
        pytest.fail(why) if IN_CI else pytest.skip(why)
    tag = f"p{os.getpid() % 100000}"
    lab = Lab(base=f"/tmp/svlab-{tag}", prefix=f"sv{tag}", nodes=1, managers=1)
    os.environ["SWARMLAB_SWARM"] = "0"
    try:
        lab.up()
    finally:
        del os.environ["SWARMLAB_SWARM"]
    yield lab
    lab.down()


async def test_it_says_a_daemon_is_not_in_swarm_mode(plain_daemon: Lab) -> None:
    with pytest.raises(NotInSwarm, match=r"not in swarm mode .*docker swarm init"):
        await _connect(Endpoint(host=plain_daemon.docker_host))
