"""Real headless Chromium against a real dashboard process (daphne) that watches the real lab."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.daphne import manage, start_daphne
from tests.lab import Lab, stop_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
USERS = {"viewer": ("viewer-pass-1234", "viewer"), "operator": ("operator-pass-1234", "operator")}
# A change that follows an event Docker's manager sends (service create/update/remove, node update,
# a container on the manager) must reach the page within this long of the manager showing it. The
# dashboards here reconcile every 8 s, as in production: only the events can make it in time.
EVENT_LAG = 2.0
POLL = 0.1  # both sides are sampled this often: the lag measured may be off by about as much

# What a person would call an alarm: the page's banner or stale look, whenever it shows (grid or wall).
WATCH_ALARMS = """() => {
  window.__alarms = [];
  window.__conns = [];
  const check = () => {
    const conn = document.body.dataset.conn || "";
    if (window.__conns[window.__conns.length - 1] !== conn) window.__conns.push(conn);
    const banner = document.getElementById("banner") || document.getElementById("w-banner");
    const alarm = (banner && !banner.hidden) || document.body.dataset.stale === "1";
    if (alarm && window.__alarms.length < 20) window.__alarms.push(`${conn}: ${banner ? banner.textContent : ""}`);
  };
  new MutationObserver(check).observe(document.body,
    { attributes: true, childList: true, subtree: true, characterData: true });
  check();
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dashboard:
    """The dashboard as users run it: daphne serving visualizer.asgi, its own database.

    It runs at the production reconcile period (8 s): a change the manager sees must reach the
    page through its event within about 2 s, not wait for the next re-list."""

    def __init__(self, docker_host: str, data_dir: Path, **env: str) -> None:
        self.simulator: Simulated | None = None  # the simulated swarm it watches, if any
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DOCKER_HOST": docker_host,
            "DATA_DIR": str(data_dir),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "daphne.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        for name, (password, role) in USERS.items():
            self.manage("adduser", name, "--role", role, extra={"ADDUSER_PASSWORD": password})

    def manage(self, *args: str, extra: dict[str, str] | None = None) -> str:
        return manage({**self.env, **(extra or {})}, *args)

    def start(self) -> None:
        # as ./sv run and the image start it
        self.proc = start_daphne(
            self.env, self.port, self.log, ["--access-log", "/dev/null", "--websocket_timeout", "-1"]
        )

    def stop(self, grace: float = 10) -> None:
        t0 = time.monotonic()
        stop_process(self.proc, grace=grace)
        if time.monotonic() - t0 >= grace:  # it did not end on SIGTERM: say so, for whoever reads the log
            print(f"\nthe dashboard did not end within {grace}s of SIGTERM and was killed", file=sys.stderr)
        self.proc = None

    def restart(self, **env: str) -> float:
        """A planned restart (an upgrade): stopped, then started again with ``env`` added; its seconds."""
        t0 = time.monotonic()
        self.stop()
        self.env.update(env)
        self.start()
        return time.monotonic() - t0

    def snapshot(self, session_cookie: str) -> dict[str, Any]:
        url = f"{self.url}/api/snapshot"
        req = urllib.request.Request(url, headers={"Cookie": f"sessionid={session_cookie}"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - our own loopback
            return dict(json.loads(r.read()))


@pytest.fixture(scope="session")
def dashboard(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    d = Dashboard(lab.docker_host, tmp_path_factory.mktemp("dashboard"))
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat, before any browser runs
        why = "chromium is missing: apt-get install -y chromium"
        pytest.fail(why) if IN_CI else pytest.skip(why)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


class PageWatch:
    """What a page did that a user would notice: dialogs that fired, uncaught errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []


async def login(page: Any, url: str, user: str = "viewer") -> None:
    await page.goto(f"{url}/accounts/login/")
    await page.fill("#id_username", user)
    await page.fill("#id_password", USERS[user][0])
    await page.click("button[type=submit]")
    await page.wait_for_function("window.swarmReady === true", timeout=15000)


@contextlib.asynccontextmanager
async def signed_in(browser: Any, dashboard: Dashboard, user: str) -> AsyncIterator[Any]:
    # the test's own probes (wait_for_function) evaluate strings, which the dashboard's CSP forbids;
    # escaping is then proven without the CSP's help, and test_security proves the CSP on its own
    context = await browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    pg = await context.new_page()
    watch = PageWatch()

    async def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        await dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    pg.watch = watch
    await login(pg, dashboard.url, user)
    yield pg
    await context.close()
    assert watch.errors == [], f"uncaught errors in the page: {watch.errors}"


@pytest.fixture
async def page(browser: Any, dashboard: Dashboard) -> AsyncIterator[Any]:
    async with signed_in(browser, dashboard, "viewer") as pg:
        yield pg


@pytest.fixture
async def operator_page(browser: Any, dashboard: Dashboard) -> AsyncIterator[Any]:
    async with signed_in(browser, dashboard, "operator") as pg:
        yield pg


class Simulated:
    """bench.simulator in a process of its own: a large swarm's Engine API on a unix socket."""

    def __init__(self, folder: Path, *, nodes: int, tasks: int, churn: float = 0.0, engine: str = "20.10") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.socket = folder / "docker.sock"
        self.log = folder / "simulator.log"
        args = ["--socket", str(self.socket), "--nodes", str(nodes), "--tasks", str(tasks), "--churn", str(churn)]
        args += ["--engine", engine]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.simulator", *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60  # it builds the whole swarm before it listens
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        stop_process(self.proc)


@contextlib.contextmanager
def simulated_dashboard(
    folder: Path, *, nodes: int, tasks: int, churn: float = 0.0, engine: str = "20.10", **env: str
) -> Iterator[Dashboard]:
    """A dashboard (daphne) whose DOCKER_HOST is a simulated swarm of its own (answering as ``engine``)."""
    sim = Simulated(folder / "simulator", nodes=nodes, tasks=tasks, churn=churn, engine=engine)
    try:
        d = Dashboard(sim.docker_host, folder / "dashboard", **env)
        d.simulator = sim
        d.start()
        try:
            yield d
        finally:
            d.stop()
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def large_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard of a simulated swarm of 200 nodes and 5,000 tasks, standing still."""
    # nothing moves in it: a slow reconcile keeps its 5,000-task re-lists off the other tests' CPU
    with simulated_dashboard(
        tmp_path_factory.mktemp("large"), nodes=200, tasks=5000, SWARM_RECONCILE_SECONDS="30"
    ) as d:
        yield d


async def alarms(page: Any) -> list[str]:
    """What WATCH_ALARMS saw since it was installed (every alarm, at most 20)."""
    return list(await page.evaluate("window.__alarms"))


async def conns(page: Any) -> list[str]:
    """The page's connection states (body[data-conn]) since WATCH_ALARMS, in order."""
    return list(await page.evaluate("window.__conns"))


async def follows_docker(
    page: Any,
    in_docker: Callable[[], bool],
    on_page: str,
    arg: Any = None,
    *,
    within: float = EVENT_LAG,
    timeout: float = 30,
    what: str = "the change",
) -> float:
    """Samples the manager (``in_docker``, blocking) and the page (``on_page``, a JS predicate)
    side by side until both show a change; the page may lag the manager ``within`` seconds at
    most. Returns the lag (negative: the page was first, which it may be)."""
    deadline = time.monotonic() + timeout
    docker_at: float | None = None
    page_at: float | None = None
    while docker_at is None or page_at is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout}s (Docker: {docker_at}, page: {page_at})")
        if page_at is None and await page.evaluate(on_page, arg):
            page_at = time.monotonic()
        if docker_at is None and await asyncio.to_thread(in_docker):
            docker_at = time.monotonic()
        await asyncio.sleep(POLL)
    lag = page_at - docker_at
    assert lag <= within + POLL, f"{what}: the page showed it {lag:.1f}s after Docker's manager did"
    return lag


def as_read(received: list[str | bytes]) -> list[str]:
    """The frames as the page reads them: text as it is, each packed model (its binary parts, in a
    row) inflated."""
    out: list[str] = []
    parts: list[bytes] = []
    for frame in [*received, ""]:
        if isinstance(frame, bytes):
            parts.append(frame)
            continue
        if parts:
            out.append(zlib.decompress(b"".join(parts)).decode())
            parts = []
        if frame:
            out.append(frame)
    return out
