"""deploy/socket_proxy.py against a stand-in Docker daemon on a unix socket: what passes, what never does."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from tests.browser.conftest import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "socket_proxy.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("socket_proxy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


socket_proxy = _module()


@dataclass
class Daemon:
    """Answers every request with 200 and the request line; /events streams two chunks, the second on demand."""

    path: str
    heads: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> socketserver.UnixStreamServer:
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = self.rfile.readline()
                    if not line:
                        break
                    head += line
                daemon.heads.append(head.decode("latin-1"))
                request_line = head.split(b"\r\n", 1)[0]
                if b" /v1.41/events" in request_line:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    self.wfile.write(b"6\r\nfirst\n\r\n")
                    self.wfile.flush()
                    daemon.release.wait(10)
                    self.wfile.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
                    return
                body = request_line + b"\n"
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
                self.wfile.write(body)

        server = socketserver.ThreadingUnixStreamServer(self.path, Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, Daemon]]:
    daemon = Daemon(str(tmp_path / "docker.sock"))
    server = daemon.serve()
    port = free_port()
    env = {**os.environ, "LISTEN": f"127.0.0.1:{port}", "DOCKER_SOCKET": daemon.path}
    proc = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
    yield port, daemon
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    server.shutdown()
    server.server_close()


def exchange(port: int, raw: bytes, *, until_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if not until_close:
                break
        return data


def request(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: docker", *headers, "", ""]).encode()


@pytest.mark.parametrize(
    "path",
    ["/_ping", "/v1.41/version", "/v1.41/info", "/v1.41/nodes", "/v1.41/nodes/abc123", "/v1.41/services?status=true",
     "/v1.41/services/web/logs?stdout=1", "/v1.41/tasks?filters=%7B%7D", "/v1.41/tasks/t1", "/v1.41/secrets",
     "/v1.41/events?since=1", "/v1.41/containers/json", "/v1.41/containers/c1/json", "/v1.41/containers/c1/logs"],
)  # fmt: skip
def test_it_lets_the_dashboards_reads_through(path: str) -> None:
    assert socket_proxy.allowed("GET", path)
    assert socket_proxy.allowed("HEAD", path)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1.41/services/create"), ("DELETE", "/v1.41/services/web"), ("PUT", "/v1.41/containers/c1/archive"),
     ("POST", "/v1.41/nodes/n1/update"), ("GET", "/v1.41/swarm"), ("GET", "/v1.41/swarm/unlockkey"),
     ("GET", "/v1.41/containers/c1/archive?path=/etc"), ("GET", "/v1.41/containers/c1/export"),
     ("GET", "/v1.41/images/get"), ("GET", "/v1.41/containers/c1/attach/ws"), ("GET", "/v1.41/nodes/../swarm"),
     ("GET", "/v1.41/nodes/.."),
     ("GET", "/v1.41/exec/e1/json"), ("OPTIONS", "/_ping")],
)  # fmt: skip
def test_it_refuses_writes_and_reads_that_give_the_swarm_away(method: str, path: str) -> None:
    assert not socket_proxy.allowed(method, path)


def test_it_relays_an_allowed_request_and_closes_upstream_after_it(proxy: tuple[int, Daemon]) -> None:
    port, daemon = proxy
    answer = exchange(port, request("GET", "/v1.41/nodes", "Connection: keep-alive"))
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"GET /v1.41/nodes HTTP/1.1\n")
    assert "Connection: close" in daemon.heads[0]
    assert "keep-alive" not in daemon.heads[0]


def test_it_refuses_a_write_without_asking_the_daemon(proxy: tuple[int, Daemon]) -> None:
    port, daemon = proxy
    answer = exchange(port, request("POST", "/v1.41/services/create", "Content-Length: 2") + b"{}")
    assert answer.startswith(b"HTTP/1.1 403 Forbidden")
    assert b"read-only Docker proxy" in answer
    assert daemon.heads == []


@pytest.mark.parametrize(
    "header", ["Content-Length: 5", "Transfer-Encoding: chunked", "Upgrade: tcp", "Upgrade: websocket"]
)
def test_it_refuses_a_get_that_carries_a_body_or_asks_for_an_upgrade(proxy: tuple[int, Daemon], header: str) -> None:
    port, daemon = proxy
    assert exchange(port, request("GET", "/v1.41/containers/c1/json", header)).startswith(b"HTTP/1.1 403")
    assert daemon.heads == []


def test_it_never_forwards_a_second_request_smuggled_behind_an_allowed_one(proxy: tuple[int, Daemon]) -> None:
    port, daemon = proxy
    exchange(port, request("GET", "/v1.41/nodes") + request("POST", "/v1.41/swarm/leave?force=1"))
    time.sleep(0.2)
    assert [h.split("\r\n", 1)[0] for h in daemon.heads] == ["GET /v1.41/nodes HTTP/1.1"]


def test_it_streams_events_as_they_come(proxy: tuple[int, Daemon]) -> None:
    port, daemon = proxy
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request("GET", "/v1.41/events"))
        data = b""
        while b"first" not in data:  # the daemon holds "second" back until the test has seen "first"
            chunk = s.recv(65536)
            assert chunk, "the stream ended before its first event"
            data += chunk
        assert b"second" not in data
        daemon.release.set()
        while chunk := s.recv(65536):
            data += chunk
    assert b"second" in data
