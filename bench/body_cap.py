"""A 1 GiB request body from an anonymous client, against the dashboard as the image starts it.

Sends ``POST /accounts/login/`` with a 1 GiB body (declared by Content-Length, then chunked) the way
curl does, reading while it sends, and prints how many bytes went out before the answer, the time
to the answer, and the server's RSS and temporary-file bytes before, during (every 64 MiB) and after.
``--bare`` serves with bare daphne instead of visualizer.serve, for comparison (it reads the whole
body: minutes and a GiB of disk and memory).

    .venv/bin/python -m bench.body_cap [--bare] [--size MIB]

No root, no Docker: the dashboard runs on loopback with a temporary DATA_DIR and TMPDIR. The tests
(tests/deploy/test_request_bodies.py) use the helpers below.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]


def rss(pid: int) -> int:
    """The resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def temp_bytes(pid: int, folder: Path) -> int:
    """Disk held in ``folder``: its files, and the files there the process holds open after unlinking
    them (twisted's TemporaryFile is such a file: no name in the folder, blocks on the disk)."""
    total, seen = 0, set()
    prefix = str(folder.resolve())
    fds = Path(f"/proc/{pid}/fd")
    for fd in list(fds.iterdir()) if fds.exists() else []:
        try:
            if os.readlink(fd).startswith(prefix):
                st = os.stat(fd)
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
        except OSError:
            continue  # closed meanwhile
    for path in folder.rglob("*"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if path.is_file() and (st.st_dev, st.st_ino) not in seen:
            total += st.st_blocks * 512
    return total


@dataclass
class Sent:
    status: int | None  # None: no answer at all
    body: bytes
    sent: int  # body bytes the client got out before the answer (or the end)
    seconds: float  # from the first byte to the answer
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # (sent, rss, temp bytes)


def send_body(
    port: int,
    size: int,
    *,
    chunked: bool,
    sample: Callable[[], tuple[int, int]] | None = None,
    every: int = 64 * MIB,
    timeout: float = 300,
) -> Sent:
    """POST ``size`` bytes to /accounts/login/ as an anonymous client that reads while it sends (as
    curl does): stops at the first byte of an answer or when the server stops reading."""
    head = ["POST /accounts/login/ HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/octet-stream"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    result = Sent(None, b"", 0, 0.0)
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        started = time.monotonic()
        answered = False
        while result.sent < size and time.monotonic() < deadline:
            if select.select([s], [], [], 0)[0]:
                answered = True
                break
            block = b"\0" * min(MIB, size - result.sent)
            try:
                s.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block)
            except OSError:  # the server closed: its answer, if any, is waiting
                break
            result.sent += len(block)
            if sample and result.sent % every == 0:
                result.samples.append((result.sent, *sample()))
        if not answered and result.sent >= size and chunked:
            s.sendall(b"0\r\n\r\n")
        result.status, result.body = _answer(s, deadline)
        result.seconds = time.monotonic() - started
    return result


def _answer(s: socket.socket, deadline: float) -> tuple[int | None, bytes]:
    data = b""
    s.settimeout(max(1.0, deadline - time.monotonic()))
    try:
        while chunk := s.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = next(
                (int(h.split(b":", 1)[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")),
                None,
            )
            if sep and length is not None and len(body) >= length:
                break
    except OSError:
        pass  # a reset after the answer: what came before it counts
    if not data.startswith(b"HTTP/"):
        return None, data
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _serve(folder: Path, port: int, *, bare: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATA_DIR": str(folder / "data"),
        "TMPDIR": str(folder / "tmp"),
        "SECRET_KEY": "bench-only-not-a-secret-" + "x" * 32,
        "DOCKER_HOST": f"unix://{folder}/no-docker.sock",
        "ALLOWED_HOSTS": "127.0.0.1",
        "BIND": "127.0.0.1",
        "PORT": str(port),
    }
    (folder / "tmp").mkdir()
    log = (folder / "server.log").open("wb")
    if bare:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        command = ["daphne", "--access-log", "/dev/null", "-b", "127.0.0.1", "-p", str(port)]
        command.append("visualizer.asgi:application")
    else:
        command = ["sh", str(ROOT / "deploy" / "entrypoint.sh")]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "server.log").read_text()[-2000:]) from None
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bare", action="store_true", help="bare daphne, as before visualizer.serve")
    parser.add_argument("--size", type=int, default=1024, help="the body in MiB (default 1024)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="body-cap-") as tmp:
        folder = Path(tmp)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        proc = _serve(folder, port, bare=args.bare)
        try:
            pid = proc.pid
            send_body(port, MIB, chunked=False)  # warm up: the first request imports and connects
            print(f"server: {'bare daphne' if args.bare else 'visualizer.serve (deploy/entrypoint.sh)'}, pid {pid}")
            print("| body | answer | sent before it | time to it | RSS before | RSS peak | RSS after | temp peak |")
            print("|---|---|---|---|---|---|---|---|")
            for chunked in (False, True):
                before = rss(pid)
                sent = send_body(
                    port, args.size * MIB, chunked=chunked, sample=lambda: (rss(pid), temp_bytes(pid, folder / "tmp"))
                )
                time.sleep(0.5)  # the server's side of the connection closes
                after = rss(pid)
                peak = max([before, after, *(r for _, r, _ in sent.samples)])
                temp = max([temp_bytes(pid, folder / "tmp"), *(t for _, _, t in sent.samples)])
                print(
                    f"| {args.size} MiB {'chunked' if chunked else 'Content-Length'} | {sent.status} "
                    f"| {sent.sent / MIB:.0f} MiB | {sent.seconds:.3f} s | {before / MIB:.1f} MiB "
                    f"| {peak / MIB:.1f} MiB | {after / MIB:.1f} MiB | {temp / MIB:.1f} MiB |"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
