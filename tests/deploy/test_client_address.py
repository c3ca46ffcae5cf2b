"""Forged proxy headers against daphne started as the image starts it (deploy/entrypoint.sh), in raw HTTP.

The peer is always 127.0.0.1; it is an untrusted client when TRUSTED_PROXIES leaves it out, and the
trusted proxy when TRUSTED_PROXIES names it. 10.9.8.7 plays a second, outer trusted proxy.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import sqlite3
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.serve import ENTRYPOINT, environment, serving

PROXY = "10.9.8.7"
ADMIN, PASSWORD = "boss", "boss-pass-1234-abcd"


@dataclass
class Served:
    url: str
    port: int
    env: dict[str, str]

    @property
    def database(self) -> Path:
        return Path(self.env["DATA_DIR"]) / "db.sqlite3"

    def audit(self, action: str) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.database, timeout=20) as db:
            rows = db.execute(
                "SELECT actor, target, remote_addr FROM dashboard_auditentry WHERE action = ? ORDER BY id", (action,)
            ).fetchall()
        return [(str(a), str(t), str(r)) for a, t, r in rows]

    def log(self) -> str:
        deadline = time.monotonic() + 10
        path = Path(self.env["DATA_DIR"]).with_name(f"entrypoint-{self.port}.log")
        while "/livez" not in (text := path.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return text

    def kiosk_token(self, name: str) -> str:
        out = subprocess.run(
            ["sh", str(ENTRYPOINT), "python", "manage.py", "kiosk", "create", name],
            env=self.env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        match = re.search(r"kiosk=([^\s&]+)", out)
        assert match, out
        return match.group(1)


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def cookies(self) -> dict[str, str]:
        found = {}
        for k, v in self.headers:
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                found[name.strip()] = rest.split(";", 1)[0]
        return found


def raw(port: int, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> Response:
    """One request exactly as written (repeated headers included), on a fresh connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in header_lines)]
    return Response(int(status_line.split()[1]), parsed, rest)


def signed_in_as_proxy_user(port: int, headers: list[tuple[str, str]]) -> bool:
    """A page that needs a signed-in user and no Docker: 200 signed in, 302 to the login otherwise."""
    response = raw(port, "GET", "/accounts/password_change/", headers)
    assert response.status in (200, 302), response
    return response.status == 200


def try_login(port: int, password: str, forwarded_for: str) -> Response:
    page = raw(port, "GET", "/accounts/login/", [("X-Forwarded-For", forwarded_for)])
    csrf = page.cookies()["csrftoken"]
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert match
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match.group(1).decode(), "username": ADMIN, "password": password}
    ).encode()
    headers = [
        ("X-Forwarded-For", forwarded_for),
        ("Cookie", f"csrftoken={csrf}"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    return raw(port, "POST", "/accounts/login/", headers, form)


def websocket_handshake(port: int, path: str, headers: list[tuple[str, str]]) -> int:
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", f"http://127.0.0.1:{port}"),
        *headers,
    ]
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in upgrade)]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status = s.makefile("rb").readline().decode("latin-1")
    return int(status.split()[1])


def serve(tmp_path_factory: pytest.TempPathFactory, name: str, **extra: str) -> Iterator[Served]:
    env = environment(
        tmp_path_factory.mktemp(name), DJANGO_SUPERUSER_USERNAME=ADMIN, DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        TRUST_PROXY_HEADERS="1", PROXY_USER_HEADER="X-Forwarded-User", LOGIN_FAILURES_ALLOWED="5", **extra,
    )  # fmt: skip
    with serving(env) as url:
        yield Served(url, int(url.rsplit(":", 1)[1]), env)


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """127.0.0.1 is a client: only 10.9.8.7 is a proxy, and only it may name a user."""
    yield from serve(tmp_path_factory, "untrusted", TRUSTED_PROXIES=PROXY, PROXY_USER_TRUSTED=PROXY)


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """127.0.0.1 is the proxy next to the dashboard (it may name a user); 10.9.8.7 an outer proxy."""
    yield from serve(tmp_path_factory, "trusted", TRUSTED_PROXIES=f"127.0.0.1,{PROXY}", PROXY_USER_TRUSTED="127.0.0.1")


def test_it_does_not_sign_in_a_client_that_forges_the_trusted_proxy_in_x_forwarded_for(untrusted: Served) -> None:
    for forged in (f"{PROXY}", f"{PROXY}, 198.51.100.1", f"198.51.100.1, {PROXY}"):
        headers = [("X-Forwarded-For", forged), ("X-Forwarded-User", ADMIN)]
        assert not signed_in_as_proxy_user(untrusted.port, headers), forged
    # two headers, the second naming the proxy
    headers = [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", PROXY), ("X-Forwarded-User", "newcomer")]
    assert not signed_in_as_proxy_user(untrusted.port, headers)
    assert untrusted.audit("user.create") == []


def test_it_locks_out_by_the_real_address_whatever_x_forwarded_for_says(untrusted: Served) -> None:
    for i in range(5):
        wrong = try_login(untrusted.port, "wrong-password", f"203.0.113.{i + 1}")
        assert wrong.status == 200 and b"Please enter a correct" in wrong.body, wrong.status
    right = try_login(untrusted.port, PASSWORD, "203.0.113.77")
    assert right.status == 200, f"signed in past the lockout ({right.status} {right.header('Location')})"
    assert b"Too many failed sign-ins" in right.body


def test_it_audits_and_logs_the_real_address_over_http_and_websockets(untrusted: Served) -> None:
    token = untrusted.kiosk_token("hall")
    forged = [("X-Forwarded-For", f"{PROXY}, 198.51.100.23")]
    assert raw(untrusted.port, "GET", f"/wall/?kiosk={token}", forged).status == 302  # for a session cookie
    assert websocket_handshake(untrusted.port, f"/ws/swarm?kiosk={token}", forged) == 101
    uses = untrusted.audit("token.use")
    assert [(where, address) for _, where, address in uses] == [("/wall/", "127.0.0.1"), ("websocket", "127.0.0.1")]


def test_it_ignores_x_forwarded_proto_and_host_from_an_untrusted_peer(untrusted: Served) -> None:
    response = raw(untrusted.port, "GET", "/accounts/login/", [("X-Forwarded-Proto", "https")])
    assert response.status == 200
    assert response.header("Strict-Transport-Security") is None, "an untrusted client made the request https"
    response = raw(untrusted.port, "GET", "/accounts/login/", [("X-Forwarded-Host", "evil.example")])
    assert response.status == 200, "an untrusted client's X-Forwarded-Host was read"


def test_it_resolves_a_chain_through_trusted_proxies_to_the_client(trusted: Served) -> None:
    # the left end is the client's own claim; walking from the right stops at the first untrusted address
    chain = f"{PROXY}, 203.0.113.7, {PROXY}"
    headers = [("X-Forwarded-For", chain), ("X-Forwarded-User", "alice"), ("X-Forwarded-Proto", "https")]
    response = raw(trusted.port, "GET", "/accounts/password_change/", headers)
    assert response.status == 200, "the trusted proxy's user header was refused"
    assert response.header("Strict-Transport-Security"), "the trusted proxy's X-Forwarded-Proto was ignored"
    assert trusted.audit("user.create") == [("alice", "alice", "203.0.113.7")]


def test_it_locks_out_the_client_behind_a_trusted_proxy_not_the_proxy(trusted: Served) -> None:
    for _ in range(5):
        assert b"Please enter a correct" in try_login(trusted.port, "wrong-password", "203.0.113.8").body
    assert b"Too many failed sign-ins" in try_login(trusted.port, PASSWORD, "203.0.113.8").body
    # another client through the same proxy is not locked out
    assert try_login(trusted.port, PASSWORD, "203.0.113.9").status == 302


def test_the_access_log_names_the_resolved_address(untrusted: Served, trusted: Served) -> None:
    raw(untrusted.port, "GET", "/livez?from=untrusted", [("X-Forwarded-For", PROXY)])
    raw(trusted.port, "GET", "/livez?from=trusted", [("X-Forwarded-For", f"{PROXY}, 198.51.100.44, {PROXY}")])
    assert re.search(r"dashboard\.access: 127\.0\.0\.1 GET /livez\?from=untrusted ", untrusted.log())
    assert re.search(r"dashboard\.access: 198\.51\.100\.44 GET /livez\?from=trusted ", trusted.log())
