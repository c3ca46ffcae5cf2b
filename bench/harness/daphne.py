"""The dashboard as users run it: daphne serving visualizer.asgi, with a throwaway viewer signed in."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.process import free_port
from tests.daphne import manage, start_daphne
from tests.lab import stop_process

BENCH_USER = "bench-viewer"
BENCH_PASSWORD = "lantern-harbour-7391"  # noqa: S105 - a throwaway account in a temporary database


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Dashboard:
    """The dashboard as users run it: daphne serving visualizer.asgi, with a temporary DATA_DIR."""

    docker_host: str
    env: dict[str, str] = field(default_factory=dict)
    daphne_args: list[str] = field(default_factory=list)  # extra daphne options (none: as deployed)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    cookie: str = ""

    def __post_init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-dash-"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data_dir / "daphne.log"
        self.full_env = {
            **os.environ,
            "DOCKER_HOST": self.docker_host,
            "DATA_DIR": str(self.data_dir),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "visualizer.settings",
            **self.env,
        }

    def manage(self, *args: str, extra: dict[str, str] | None = None) -> None:
        manage({**self.full_env, **(extra or {})}, *args)

    def start(self, healthy_within: float = 90) -> Dashboard:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("adduser", BENCH_USER, "--role", "viewer", extra={"ADDUSER_PASSWORD": BENCH_PASSWORD})
        self.proc = start_daphne(self.full_env, self.port, self.log, self.daphne_args, healthy_within=healthy_within)
        self.cookie = self.login()
        return self

    def login(self) -> str:
        """Sign in through the login form; returns the Cookie header value of the session."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
        with opener.open(f"{self.url}/accounts/login/", timeout=30) as r:
            page = r.read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if match is None:
            raise RuntimeError("no CSRF token on the login page")
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1), "username": BENCH_USER, "password": BENCH_PASSWORD}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}/accounts/login/",
            data=form,
            headers={"Origin": self.url, "Referer": f"{self.url}/accounts/login/"},
        )
        try:
            opener.open(request, timeout=30).close()
        except urllib.error.HTTPError as e:
            if e.code != 302:
                raise
        cookies = {c.name: c.value for c in jar}
        if "sessionid" not in cookies:
            raise RuntimeError(f"login failed (cookies: {sorted(cookies)})")
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def get_json(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Cookie": self.cookie})  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 - loopback
            return json.loads(r.read())

    def requests(self) -> dict[str, int]:
        """The dashboard's own count of its Docker requests, by endpoint (GET /api/metrics)."""
        return dict(self.get_json("/api/metrics")["docker_requests"])

    def session_value(self) -> str:
        return dict(part.split("=", 1) for part in self.cookie.split("; "))["sessionid"]

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def request_rates(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    return {k: (after.get(k, 0) - before.get(k, 0)) / seconds for k in sorted(set(before) | set(after))}
