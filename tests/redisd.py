"""A real redis-server for the tests, started by the suite: its own folder, a unix socket only (no
TCP port to collide with anything), no persistence. Stopped by pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.lab import stop_process

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.socket = folder / "redis.sock"
        self.log = folder / "redis.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                    "--save", "", "--appendonly", "no", "--dir", str(folder),
                ],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        stop_process(self.proc)
