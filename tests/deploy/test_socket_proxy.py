"""deploy/socket_proxy.py against a stand-in Docker daemon on a unix socket: what passes, what never does."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.browser.conftest import free_port
from tests.lab import Lab

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "socket_proxy.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("socket_proxy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


socket_proxy = _module()


BIG_LOG = 256 * 1024 * 1024


@dataclass
class Daemon:
    """Answers every request with 200 and the request line; /events streams two chunks, the second on demand;
    the logs of container "big" are 256 MiB, written as fast as the reader takes them."""

    path: str
    heads: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    sent: int = 0

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
                if b" /v1.41/containers/big/logs" in request_line:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
                    with contextlib.suppress(OSError):
                        for _ in range(BIG_LOG // 65536):
                            self.wfile.write(b"x" * 65536)
                            daemon.sent += 65536
                    return
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


@contextlib.contextmanager
def running_proxy(socket_path: str) -> Iterator[int]:
    """deploy/socket_proxy.py as the image runs it, on a loopback port, in front of ``socket_path``."""
    port = free_port()
    env = {**os.environ, "LISTEN": f"127.0.0.1:{port}", "DOCKER_SOCKET": socket_path, "LOG_LEVEL": "ERROR"}
    proc = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, Daemon]]:
    daemon = Daemon(str(tmp_path / "docker.sock"))
    server = daemon.serve()
    with running_proxy(daemon.path) as port:
        yield port, daemon
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


def test_it_holds_the_daemon_back_while_the_client_does_not_read(proxy: tuple[int, Daemon]) -> None:
    port, daemon = proxy
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(request("GET", "/v1.41/containers/big/logs"))
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")
        time.sleep(1.5)  # the client reads nothing more: the proxy must not buffer the log for it
        held = daemon.sent
        assert held < BIG_LOG // 8, f"the proxy read {held} bytes the client never took"
        received = 0
        while received < 4 * 1024 * 1024 and (chunk := s.recv(65536)):
            received += len(chunk)
        time.sleep(0.2)
        assert daemon.sent > held, "the stream did not go on once the client read again"


# --- request smuggling: what reaches the daemon, read as dockerd's Go server reads it -----------------


@dataclass
class Recorder:
    """A stand-in daemon that keeps every byte each connection brings; answers 200 after a blank line."""

    path: str
    connections: list[bytearray] = field(default_factory=list)

    def serve(self) -> socketserver.UnixStreamServer:
        recorder = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                seen = bytearray()
                recorder.connections.append(seen)
                self.request.settimeout(2)
                answered = False
                with contextlib.suppress(OSError):
                    while chunk := self.request.recv(65536):
                        seen += chunk
                        if not answered and (b"\r\n\r\n" in seen or b"\n\n" in seen):
                            answered = True
                            self.request.sendall(ANSWER)
                            self.request.shutdown(socket.SHUT_WR)

        server = socketserver.ThreadingUnixStreamServer(self.path, Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
REQUEST_LINE = re.compile(rb"^(\S+) (\S+) HTTP/\S+$")


def go_lines(raw: bytes) -> list[bytes]:
    """The lines dockerd's Go server reads: it ends a line at LF and drops a CR before it."""
    return [line.removesuffix(b"\r") for line in raw.split(b"\n")]


def assert_only_allowed_reads(connections: list[bytearray]) -> None:
    for raw in list(connections):
        data = bytes(raw)
        assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r"), f"not plain CRLF upstream: {data!r}"
        lines = go_lines(data)
        requests = [m for line in lines if (m := REQUEST_LINE.match(line))]
        assert len(requests) <= 1, f"more than one request on one upstream connection: {data!r}"
        for m in requests:
            method, target = m.group(1).decode("latin-1"), m.group(2).decode("latin-1")
            assert socket_proxy.allowed(method, target) and target.startswith("/"), f"reached upstream: {data!r}"
        assert not any(line[:1] in (b" ", b"\t") for line in lines), f"folded line upstream: {data!r}"
        framing = [line.lower() for line in lines if line.lower().startswith((b"content-length", b"transfer-encoding"))]
        assert framing == [], f"body framing upstream: {data!r}"
        if requests:
            assert data.index(b"\r\n\r\n") == len(data) - 4, f"bytes after the head: {data!r}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Recorder]]:
    recorder = Recorder(str(tmp_path_factory.mktemp("recorder") / "docker.sock"))
    server = recorder.serve()
    with running_proxy(recorder.path) as port:
        yield port, recorder
    server.shutdown()
    server.server_close()


def send(port: int, raw: bytes, *, timeout: float = 5) -> bytes:
    """Send ``raw`` and read the answer until the proxy closes.

    The proxy takes a client's end of input after a complete head for a client gone and drops the answer,
    so the write side is closed only when ``raw`` holds no complete head (else it would wait for more).
    """
    complete = b"\r\n\r\n" in raw or re.search(rb"(?<!\r)\n", raw) is not None
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with contextlib.suppress(OSError):
            s.sendall(raw)
            if not complete:
                s.shutdown(socket.SHUT_WR)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                data += chunk
        return data


def settled(recorder: Recorder) -> list[bytearray]:
    """The recorder's connections once no new byte has come for a moment (bounded)."""
    deadline = time.monotonic() + 3
    last = -1
    while time.monotonic() < deadline:
        total = sum(len(c) for c in recorder.connections) + len(recorder.connections)
        if total == last:
            break
        last = total
        time.sleep(0.15)
    return recorder.connections


CREATE_BODY = b'{"Image":"local/busybox:1","Cmd":["true"],"HostConfig":{"Privileged":true}}'


def smuggling_line(name: str) -> bytes:
    """One "header line" that holds, behind lone LFs, the end of its head and a POST /containers/create."""
    post = (
        b"POST /v1.41/containers/create?name=" + name.encode() + b" HTTP/1.1\nHost: docker\n"
        b"Content-Type: application/json\nContent-Length: %d\n\n" % len(CREATE_BODY)
    ) + CREATE_BODY
    return b"X-Pad: y\n\n" + post + b"\nX: y"


def smuggled_create(name: str) -> bytes:
    """POST /containers/create hidden in the second line of a GET /_ping, with lone LFs only."""
    return b"GET /_ping HTTP/1.1\r\nHost: docker\r\n" + smuggling_line(name) + b"\r\n\r\n"


SMUGGLES = {
    "bare LF second request": smuggled_create("smuggled-bare-lf"),
    "pipelined POST after a GET": request("GET", "/v1.41/nodes")
    + request("POST", "/v1.41/containers/create?name=smuggled-pipelined", "Content-Type: application/json",
              f"Content-Length: {len(CREATE_BODY)}") + CREATE_BODY,
    "CL and TE": request("GET", "/_ping", "Content-Length: 4", "Transfer-Encoding: chunked")
    + b"0\r\n\r\n" + request("POST", "/v1.41/containers/create?name=smuggled-cl-te"),
    "duplicate CL": request("GET", "/_ping", "Content-Length: 0", "Content-Length: 0"),
    "conflicting CL": request("GET", "/_ping", "Content-Length: 0", "Content-Length: 44"),
    "obs-fold": request("GET", "/_ping", "X-Note: a", " Transfer-Encoding: chunked"),
    "obs-fold hiding a request": request("GET", "/_ping", "X: a", "\tPOST /v1.41/swarm/leave HTTP/1.1"),
    "lone CR": b"GET /_ping HTTP/1.1\r\nHost: docker\rX: POST /v1.41/swarm/leave HTTP/1.1\r\n\r\n",
    "absolute-form": request("GET", "http://docker/v1.41/nodes"),
    "absolute-form with a path of its own": request("GET", "//docker/v1.41/nodes"),
    "CONNECT": b"CONNECT docker:2375 HTTP/1.1\r\nHost: docker:2375\r\n\r\n",
    "upgrade": request("GET", "/v1.41/containers/c1/json", "Connection: Upgrade", "Upgrade: tcp"),
    "expect": request("GET", "/_ping", "Expect: 100-continue"),
}  # fmt: skip


@pytest.mark.parametrize("raw", list(SMUGGLES.values()), ids=list(SMUGGLES))
def test_it_lets_nothing_but_one_plain_allowed_get_reach_the_daemon(recorded: tuple[int, Recorder], raw: bytes) -> None:
    port, recorder = recorded
    recorder.connections.clear()
    answer = send(port, raw)
    assert answer.startswith(b"HTTP/1.1 ")
    status = int(answer[9:12])
    assert_only_allowed_reads(settled(recorder))
    if status != 200:
        assert status in (400, 403) and b'"message"' in answer
        assert recorder.connections == []


@pytest.mark.parametrize(
    "raw", [smuggled_create("smuggled-a"), request("GET", "/_ping", "X: a", " b"),
            request("GET", "/_ping", "Content-Length: 0", "Content-Length: 0"),
            request("GET", "http://docker/_ping"), b"CONNECT docker:2375 HTTP/1.1\r\nHost: docker\r\n\r\n"],
)  # fmt: skip
def test_it_refuses_a_smuggling_head_with_a_clear_status(recorded: tuple[int, Recorder], raw: bytes) -> None:
    port, recorder = recorded
    recorder.connections.clear()
    answer = send(port, raw)
    assert answer.split(b" ", 2)[1] in (b"400", b"403"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"]
    assert settled(recorder) == []


def test_it_writes_the_request_itself_keeping_only_end_to_end_headers(recorded: tuple[int, Recorder]) -> None:
    port, recorder = recorded
    recorder.connections.clear()
    raw = request("GET", "/v1.41/info", "User-Agent: t", "Connection: keep-alive, X-Drop", "X-Drop: 1",
                  "Keep-Alive: 5", "TE: trailers")  # fmt: skip
    assert send(port, raw).startswith(b"HTTP/1.1 200 OK")
    [upstream] = settled(recorder)
    lines = bytes(upstream).split(b"\r\n")
    assert lines[0] == b"GET /v1.41/info HTTP/1.1"
    names = {line.split(b":")[0].lower() for line in lines[1:] if line}
    assert names == {b"host", b"user-agent", b"connection"}
    assert b"Connection: close" in lines


# a request built from the pieces that smuggling and desync attacks are made of
_EOL = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r"])
_METHOD = st.sampled_from([b"GET", b"HEAD", b"POST", b"DELETE", b"PUT", b"get", b"CONNECT", b"OPTIONS", b"GET\t", b""])
_TARGET = st.sampled_from([
    b"/_ping", b"/v1.41/nodes", b"/v1.41/containers/json?all=1", b"/v1.41/containers/create", b"/v1.41/swarm",
    b"/v1.41/nodes/../swarm", b"http://docker/v1.41/nodes", b"//docker/_ping", b"*", b"docker:2375",
    b"/_ping#/swarm", b"/v1.41/events?x=\x00", b"/_ping HTTP/1.1\r\nX:", b"/v1.41/services/a%2F..%2Fcreate",
])  # fmt: skip
_VERSION = st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b""])
_HEADER = st.sampled_from([
    b"Host: docker", b"Host: docker", b"Content-Length: 0", b"Content-Length: 7", b"Content-Length: -1",
    b"Content-Length: +7", b"Content-Length : 7", b"Transfer-Encoding: chunked", b"Transfer-Encoding:  chunked",
    b"Transfer-Encoding: chunked, identity", b"Transfer-Encoding: xchunked", b" Transfer-Encoding: chunked",
    b"\tX: folded", b"Connection: Upgrade", b"Upgrade: tcp", b"Upgrade: websocket", b"Expect: 100-continue",
    b"Connection: keep-alive", b"X: a\rb", b"X: POST /v1.41/swarm/leave HTTP/1.1", b"POST /v1.41/swarm/leave HTTP/1.1",
    b"", b"X-\xff: \xfe", b"Host: docker\nPOST /v1.41/containers/create HTTP/1.1",
    # the whole exploit of issue 15 in one "line": a blank line, then a container create with its body
    smuggling_line("fuzzed"),
])  # fmt: skip


@st.composite
def _smuggling_requests(draw: st.DrawFn) -> bytes:
    raw = b""
    for _ in range(draw(st.integers(1, 3))):
        eol = draw(_EOL)
        head = [draw(_METHOD) + b" " + draw(_TARGET) + b" " + draw(_VERSION)]
        head += draw(st.lists(_HEADER, max_size=6))
        raw += b"".join(line + draw(_EOL) for line in head) + eol
        raw += draw(st.sampled_from([b"", b"0\r\n\r\n", b"garbage", b"{}"]))
    return raw + draw(st.binary(max_size=40))


@st.composite
def _disguised_requests(draw: st.DrawFn) -> bytes:
    """An allowed read that carries the pieces: what gets past a filter that looks only at the first line."""
    line = draw(st.sampled_from([b"GET", b"HEAD"])) + b" " + draw(st.sampled_from([b"/_ping", b"/v1.41/nodes"]))
    headers = [b"Host: docker", *draw(st.lists(_HEADER, max_size=4))]
    # a known smuggling shape, placed anywhere among the headers, in half the examples
    smuggle = draw(st.sampled_from([b"", b"", b"", smuggling_line("fuzzed"), b"X: a\n\nDELETE /v1.41/swarm HTTP/1.1",
                                    b"X: a\n\nPOST /v1.41/swarm/leave?force=1 HTTP/1.1\nHost: docker"]))  # fmt: skip
    if smuggle:
        headers.insert(draw(st.integers(1, len(headers))), smuggle)
    return b"\r\n".join([line + b" HTTP/1.1", *headers]) + b"\r\n\r\n" + draw(st.sampled_from([b"", b"{}"]))


_ANY_REQUEST = st.one_of(_smuggling_requests(), _disguised_requests(), st.binary(max_size=200))


@settings(max_examples=300, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(raw=_ANY_REQUEST)
def test_it_lets_only_allowed_gets_through_whatever_it_is_sent(recorded: tuple[int, Recorder], raw: bytes) -> None:
    port, recorder = recorded
    answer = send(port, raw)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    assert_only_allowed_reads(recorder.connections)


# --- the same smuggles in front of a real manager: nothing gets written ---------------------------------


@pytest.fixture(scope="module")
def lab_proxy(lab: Lab) -> Iterator[int]:
    with running_proxy(lab.sock(1)) as port:
        yield port


def _world(lab: Lab) -> dict[str, list[str]]:
    """What a write would change (networks are left out: a fresh lab still settles its own)."""
    return {
        "containers": sorted(c["Id"] for c in lab.api("/containers/json?all=1")),
        "services": sorted(s["ID"] for s in lab.api("/services")),
        "configs": sorted(c["ID"] for c in lab.api("/configs")),
        "secrets": sorted(s["ID"] for s in lab.api("/secrets")),
    }


def test_it_lets_a_dashboard_read_through_to_a_real_manager(lab: Lab, lab_proxy: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", lab_proxy, timeout=10)
    try:
        conn.request("GET", "/v1.41/nodes")
        resp = conn.getresponse()
        assert resp.status == 200
        assert len(json.loads(resp.read())) == lab.nodes
    finally:
        conn.close()


@pytest.mark.parametrize("smuggle", ["bare LF second request", "pipelined POST after a GET", "CL and TE"])
def test_it_creates_nothing_on_a_real_manager_through_a_smuggled_post(lab: Lab, lab_proxy: int, smuggle: str) -> None:
    before = _world(lab)
    try:
        send(lab_proxy, SMUGGLES[smuggle])
        time.sleep(0.5)
        assert _world(lab) == before
        names = [n for c in lab.api("/containers/json?all=1") for n in c["Names"]]
        assert not [n for n in names if "smuggled" in n]
    finally:
        _remove_created(lab, before)


def _remove_created(lab: Lab, before: dict[str, list[str]]) -> None:
    """A proxy that let a write through must not spoil the next test."""
    for container in set(_world(lab)["containers"]) - set(before["containers"]):
        lab.docker("rm", "-f", container, check=False)


@settings(max_examples=100, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(_smuggling_requests(), _disguised_requests()))
def test_it_changes_nothing_on_a_real_manager_whatever_it_is_sent(lab: Lab, lab_proxy: int, raw: bytes) -> None:
    before = _world(lab)
    try:
        send(lab_proxy, raw)
        assert _world(lab) == before
    finally:
        _remove_created(lab, before)
