"""A websocket client on a bare socket, for clients no library would be: one that never reads (a
tiny receive buffer), one that sends but never answers a ping. RFC 6455 framing, text frames only."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import Any

CLOSE, PING, PONG, TEXT = 8, 9, 10, 1


class RawSocket:
    def __init__(self, port: int, path: str, *, headers: dict[str, str] | None = None, rcvbuf: int = 0) -> None:
        self.sock = socket.socket()
        if rcvbuf:  # before connecting: the window the server sees is set by it
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", f"Origin: http://127.0.0.1:{port}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]  # fmt: skip
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("the server closed the connection during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"no upgrade: {head[:200]!r}")
        self.buffer = b""

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(TEXT, json.dumps(message).encode())

    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _need(self, n: int, deadline: float) -> None:
        while len(self.buffer) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk

    def read_frame(self, timeout: float = 10) -> tuple[int, bytes]:
        """The next frame (the server sends no fragments). A timeout consumes nothing: call again."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        first, second = self.buffer[0], self.buffer[1]
        size, at = second & 0x7F, 2
        if size == 126:
            self._need(4, deadline)
            size, at = struct.unpack("!H", self.buffer[2:4])[0], 4
        elif size == 127:
            self._need(10, deadline)
            size, at = struct.unpack("!Q", self.buffer[2:10])[0], 10
        self._need(at + size, deadline)
        payload, self.buffer = self.buffer[at : at + size], self.buffer[at + size :]
        return first & 0x0F, payload

    def close_code(self, frame: bytes) -> int:
        return int(struct.unpack("!H", frame[:2])[0]) if len(frame) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()
