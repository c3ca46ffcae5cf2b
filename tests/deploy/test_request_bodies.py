"""Request bodies against the dashboard as the image starts it (deploy/entrypoint.sh): a 1 GiB body
from an anonymous client is refused before it is read, with disk and memory flat (measured); a
secret's value, up to Docker's 500 KiB, reaches Docker without ever touching the disk.

Every file the server opens under its TMPDIR is recorded by an audit hook (a sitecustomize on
PYTHONPATH): twisted's temporary files are unlinked at once (O_TMPFILE), so listing the folder would
never show them.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import re
import socket
import subprocess
import sys
import termios
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from bench.body_cap import MIB, rss, send_body, temp_bytes
from tests.deploy.probe import Session
from tests.deploy.serve import ENTRYPOINT, ROOT, environment, serving
from tests.lab import stop_process, wait_until

# logs every open (and mkstemp) of a path under $OPENS_WATCHED to $OPENS_LOG: "pid event path"
SITECUSTOMIZE = """
import os, sys
_watched, _log = os.environ.get("OPENS_WATCHED"), os.environ.get("OPENS_LOG")
if _watched and _log:
    _fd = os.open(_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _hook(event, args):
        if event in ("open", "tempfile.mkstemp", "tempfile.mkdtemp") and args:
            if isinstance(args[0], (str, bytes, os.PathLike)):
                path = os.path.abspath(os.fsdecode(args[0]))
                if path == _watched or path.startswith(_watched + os.sep):
                    os.write(_fd, f"{os.getpid()} {event} {path}\\n".encode())

    sys.addaudithook(_hook)
"""


@dataclass
class Served:
    url: str
    port: int
    pid: int
    tmpdir: Path
    opens_log: Path

    def opens(self) -> list[str]:
        """What the server process opened under its TMPDIR."""
        lines = self.opens_log.read_text().splitlines() if self.opens_log.exists() else []
        return [line for line in lines if line.split()[0] == str(self.pid)]

    def usage(self) -> tuple[int, int]:
        return rss(self.pid), temp_bytes(self.pid, self.tmpdir)


def server_pid(port: int) -> int:
    """The process serving ``port``: the entrypoint exec()s the server, which names the port on its command line."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"visualizer.serve" in argv and str(port).encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no visualizer.serve process on port {port}")


@pytest.fixture
def hooked_env(tmp_path: Path) -> dict[str, str]:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    return environment(
        tmp_path,
        TMPDIR=str(tmpdir),
        PYTHONPATH=str(hooks),
        OPENS_WATCHED=str(tmpdir.resolve()),
        OPENS_LOG=str(tmp_path / "opens.log"),
    )


@pytest.fixture
def served(hooked_env: dict[str, str]) -> Iterator[Served]:
    with serving(hooked_env) as url:
        port = int(url.rsplit(":", 1)[1])
        yield Served(url, port, server_pid(port), Path(hooked_env["TMPDIR"]), Path(hooked_env["OPENS_LOG"]))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_it_refuses_a_1_gib_body_before_buffering_it_with_disk_and_memory_flat(served: Served, chunked: bool) -> None:
    send_body(served.port, 64 * 1024, chunked=chunked)  # warm up: the first request loads what it needs
    rss_before, temp_before = served.usage()
    sent = send_body(served.port, 1024 * MIB, chunked=chunked, sample=served.usage, every=8 * MIB, timeout=120)
    rss_after, temp_after = served.usage()
    print(
        f"\n1 GiB {'chunked' if chunked else 'Content-Length'} body: {sent.status} after {sent.sent / MIB:.0f} MiB "
        f"in {sent.seconds:.3f} s; server RSS {rss_before / MIB:.1f} -> {rss_after / MIB:.1f} MiB "
        f"(samples {[round(r / MIB, 1) for _, r, _ in sent.samples]}), "
        f"temp files {temp_before} -> {temp_after} bytes; opened under TMPDIR: {served.opens()}"
    )
    assert sent.status == 413, f"answered {sent.status} after {sent.sent / MIB:.0f} MiB: {sent.body[:200]!r}"
    assert b"MAX_REQUEST_BYTES" in sent.body and str(2 * MIB).encode() in sent.body
    # the cap is 2 MiB; what the client got out beyond it sat in socket buffers, or was drained unread
    assert sent.sent <= 32 * MIB and sent.seconds < 5
    assert rss_after - rss_before < 16 * MIB
    assert max([temp_after, *(t for _, _, t in sent.samples)]) == 0
    assert served.opens() == []
    with urllib.request.urlopen(f"{served.url}/livez", timeout=10) as r:  # noqa: S310 - loopback
        assert r.status == 200, "the server stopped serving"


def test_it_passes_a_body_under_the_cap_to_the_application_chunked_or_not(served: Served) -> None:
    for chunked in (False, True):
        # an anonymous POST without a CSRF token: Django's own 403 shows that the body got through
        sent = send_body(served.port, MIB, chunked=chunked)
        assert sent.status == 403 and b"CSRF" in sent.body, (chunked, sent.status, sent.body[:200])
    assert served.opens() == []


def test_it_takes_its_cap_from_max_request_bytes_and_refuses_one_too_small(tmp_path: Path) -> None:
    with serving(environment(tmp_path, MAX_REQUEST_BYTES="1500000")) as url:
        port = int(url.rsplit(":", 1)[1])
        assert send_body(port, 1_500_000, chunked=False).status == 403  # Django's: no CSRF token
        assert send_body(port, 1_500_000, chunked=True).status == 403
        over = send_body(port, 1_500_001, chunked=False)
        assert over.status == 413 and b"at most 1500000 bytes" in over.body
        assert send_body(port, 1_500_001, chunked=True).status == 413
    (tmp_path / "small").mkdir()
    env = environment(tmp_path / "small", MAX_REQUEST_BYTES="1000")
    proc = subprocess.run(["sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "MAX_REQUEST_BYTES='1000': must be at least 1024000" in proc.stderr


def unread(client: socket.socket, server_port: int) -> int:
    """Bytes a client sent on ``client`` that the server process has not read yet: still in the
    client's send queue, or in the receive queue of the server's socket (/proc/net/tcp)."""
    queued = array.array("i", [0])
    fcntl.ioctl(client.fileno(), termios.TIOCOUTQ, queued)
    server = f"0100007F:{server_port:04X}"
    peer = f"0100007F:{client.getsockname()[1]:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == server and fields[2] == peer:
            return queued[0] + int(fields[4].split(":")[1], 16)
    return queued[0]


def all_read(client: socket.socket, server_port: int) -> bool:
    return unread(client, server_port) == 0


def test_it_holds_stalled_bodies_to_a_budget_for_the_whole_process(served: Served) -> None:
    """Clients each sending most of a 2 MiB body, then nothing: the process holds 16 of them, no more."""
    rss_before = rss(served.pid)
    stalled = []
    try:
        for n in range(17):
            s = socket.create_connection(("127.0.0.1", served.port), timeout=10)
            stalled.append(s)
            head = f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {2 * MIB}\r\n\r\n"
            s.sendall(head.encode() + b"\0" * (2 * MIB - 1024))
            # one at a time: the server has read this body before the next one starts
            wait_until(partial(all_read, s, served.port), timeout=10, what=f"body {n} read by the server")
        # 16 bodies fill the budget (16 x 2 MiB): the 17th was refused once it went past it
        refused = stalled[-1].recv(4096)
        assert refused.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 5" in refused
        for s in stalled[:-1]:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)  # still waiting for the rest of its body: nothing refused
        busy = send_body(served.port, 256 * 1024, chunked=False)
        assert busy.status == 503 and b"try again" in busy.body
        # a small body (a sign-in form) does not count against the budget: a full one keeps no one out
        for chunked in (False, True):
            form = send_body(served.port, 64 * 1024, chunked=chunked)
            assert form.status == 403 and b"CSRF" in form.body, (chunked, form.status, form.body[:200])
        rss_full = rss(served.pid)
        assert served.usage()[1] == 0 and served.opens() == []
        with urllib.request.urlopen(f"{served.url}/livez", timeout=10) as r:  # noqa: S310 - loopback
            assert r.status == 200, "a request without a body was refused"
    finally:
        for s in stalled:
            s.close()
    print(f"\n16 stalled 2 MiB bodies held, a 17th refused: RSS {rss_before / MIB:.1f} -> {rss_full / MIB:.1f} MiB")
    assert rss_full - rss_before < 2 * 16 * 2 * MIB, "more than the budget (and a copy of it) held in memory"
    # the stalled connections closed, their share of the budget comes back
    wait_until(lambda: send_body(served.port, MIB, chunked=False).status == 403, timeout=10, what="the budget back")


def test_it_refuses_a_websocket_handshake_with_a_body_and_keeps_its_budget(served: Served) -> None:
    """daphne hands an upgraded connection, body and all, to the websocket protocol: the request that
    held the body would never finish, and 16 such would hold the whole budget until a restart."""
    for n in range(20):
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
            head = (
                "GET /ws/swarm/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Content-Length: {2 * MIB - 4096}\r\n\r\n"
            )
            s.sendall(head.encode())
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 400 ") and b"no request body" in answer, (n, answer[:200])
    sent = send_body(served.port, MIB, chunked=False)
    assert sent.status == 403 and b"CSRF" in sent.body, (sent.status, sent.body[:200])
    # a handshake without a body is still a handshake
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(
            b"GET /ws/swarm/ HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert not s.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_it_closes_a_body_that_trickles_in_past_its_deadline(tmp_path: Path) -> None:
    """Twisted's idle timeout starts again on every byte: a body must arrive within REQUEST_BODY_SECONDS."""
    with serving(environment(tmp_path, REQUEST_BODY_SECONDS="2")) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
            started = time.monotonic()
            s.setblocking(False)
            answer = b""
            for _ in range(100):  # a byte every 0.1 s, until the server answers (at most 10 s)
                try:
                    answer = s.recv(4096)
                    break
                except BlockingIOError:
                    s.send(b"a")
                    time.sleep(0.1)
            took = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 408 ") and b"within 2 seconds (REQUEST_BODY_SECONDS)" in answer, answer
            assert 1.5 < took < 5, took
            s.settimeout(10)
            with contextlib.suppress(ConnectionResetError):
                while s.recv(4096):  # the connection closes: at most LINGER_SECONDS later
                    pass
        # a body sent at once is unaffected
        assert send_body(port, 64 * 1024, chunked=False).status == 403


@pytest.fixture
def simulated_docker(tmp_path: Path) -> Iterator[str]:
    """bench.simulator: a small swarm's Engine API on a unix socket (secrets are created there)."""
    sock = tmp_path / "docker.sock"
    with (tmp_path / "simulator.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.simulator", "--socket", str(sock), "--nodes", "1", "--managers", "1",
             "--tasks", "2"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "simulator.log").read_text()
            time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        stop_process(proc)


def upload_secret(session: Session, name: str, value: bytes) -> tuple[int, bytes]:
    """The secrets page's form, as a browser posts it (multipart, the value as a file)."""
    _, _, page, _ = session.get("/secrets/")
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page[:500]
    boundary = uuid.uuid4().hex
    parts = [
        (b'name="csrfmiddlewaretoken"', match.group(1)),
        (b'name="name"', name.encode()),
        (b'name="labels"', b""),
        (b'name="value"', b""),
        (b'name="file"; filename="value.bin"\r\nContent-Type: application/octet-stream', value),
    ]
    body = (
        b"".join(
            b"--"
            + boundary.encode()
            + b"\r\nContent-Disposition: form-data; "
            + disposition
            + b"\r\n\r\n"
            + data
            + b"\r\n"
            for disposition, data in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{session.base}/secrets/create", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    try:
        with session.opener.open(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_it_takes_secret_uploads_up_to_dockers_limit_without_touching_disk(
    hooked_env: dict[str, str], simulated_docker: str
) -> None:
    env = {**hooked_env, "DOCKER_HOST": simulated_docker}
    with serving(env) as url:
        subprocess.run(
            ["sh", str(ENTRYPOINT), "python", "manage.py", "adduser", "ops", "--role", "operator"],
            env={**env, "ADDUSER_PASSWORD": "operator-pass-1234"}, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        pid = server_pid(int(url.rsplit(":", 1)[1]))
        session = Session(url)
        session.login("ops", "operator-pass-1234")
        for name, size in (("db-dump", 400_000), ("tls-bundle", 500 * 1024 - 1)):
            status, page = upload_secret(session, name, os.urandom(size))
            problem = re.search(rb'<p class="error" role="alert">([^<]*)', page)
            assert status == 200 and f"secret {name} created".encode() in page, (name, status, problem)
        opened = [line for line in Path(env["OPENS_LOG"]).read_text().splitlines() if line.startswith(f"{pid} ")]
        print(f"\nopened under TMPDIR by the server while taking a 400 KB and a 500 KiB - 1 secret: {opened}")
        assert opened == [], "a secret's value went to a temporary file"
