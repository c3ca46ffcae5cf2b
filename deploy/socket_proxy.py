"""A read-only Docker API proxy: GET and HEAD on the endpoints the dashboard reads, nothing else.

The dashboard then holds no Docker socket at all: it reaches this proxy over an overlay network
(DOCKER_HOST=tcp://socket-proxy:2375), and only this small process can write to the daemon.
Refused on purpose although they are GETs: ``/swarm`` (its answer holds the join tokens, enough to
join a manager), container archives and exports (files of any container), image exports, and every
upgrade (``attach/ws`` writes to a container's stdin).

Every request is checked: the proxy sends ``Connection: close`` upstream, so a kept-alive client
connection can never carry a second request past the check. Standard library only.

Environment: LISTEN (``0.0.0.0:2375``), DOCKER_SOCKET (``/var/run/docker.sock``), LOG_LEVEL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
from urllib.parse import urlsplit

log = logging.getLogger("socket_proxy")

# an ID or a name; never "." or "..", which a daemon could resolve to another path
_ID = r"(?!\.\.?(?:/|$))[A-Za-z0-9_.-]+"
ALLOWED_PATH = re.compile(
    r"^(?:/v\d+\.\d+)?/(?:"
    r"_ping|version|info|events"
    rf"|nodes(?:/{_ID})?"
    rf"|services(?:/{_ID}(?:/logs)?)?"
    rf"|tasks(?:/{_ID}(?:/logs)?)?"
    rf"|secrets(?:/{_ID})?|configs(?:/{_ID})?|networks(?:/{_ID})?"
    rf"|containers/json|containers/{_ID}/(?:json|logs)"
    r")/?$"
)
ALLOWED_METHODS = {"GET", "HEAD"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding"}
MAX_HEAD = 64 * 1024


def allowed(method: str, target: str) -> bool:
    return method in ALLOWED_METHODS and ALLOWED_PATH.match(urlsplit(target).path) is not None


def refusal(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def upstream_head(request_line: str, header_lines: list[str]) -> bytes | None:
    """The request head to send to the daemon, or None when the request must be refused."""
    kept = []
    for line in header_lines:
        name, _, value = line.partition(":")
        lowered = name.strip().lower()
        if lowered == "content-length" and value.strip() not in ("", "0"):
            return None
        if lowered in ("transfer-encoding", "upgrade"):
            return None
        if lowered not in HOP_BY_HOP:
            kept.append(line)
    return "\r\n".join([request_line, *kept, "Connection: close", "", ""]).encode("latin-1")


class Proxy:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        lines = head.decode("latin-1").split("\r\n")[:-2]
        request_line, header_lines = lines[0], lines[1:]
        parts = request_line.split(" ")
        if len(parts) != 3:
            writer.write(refusal(400, "Bad Request", "malformed request line"))
            return
        method, target, _version = parts
        forward = upstream_head(request_line, header_lines) if allowed(method, target) else None
        if forward is None:
            log.warning("refused %s %s", method, urlsplit(target).path)
            writer.write(refusal(403, "Forbidden", f"read-only Docker proxy: {method} {urlsplit(target).path}"))
            await writer.drain()
            return
        up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        try:
            up_writer.write(forward)
            await up_writer.drain()
            relay = asyncio.create_task(self._relay(up_reader, writer))
            # a client that goes away ends a long stream such as /events at once
            gone = asyncio.create_task(self._until_eof(reader))
            done, pending = await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    @staticmethod
    async def _relay(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()

    @staticmethod
    async def _until_eof(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass


async def serve(listen: str, socket_path: str) -> None:
    host, _, port = listen.rpartition(":")
    proxy = Proxy(socket_path)
    server = await asyncio.start_server(proxy.handle, host.strip("[]") or "0.0.0.0", int(port), limit=MAX_HEAD)  # noqa: S104
    log.info("read-only Docker proxy on %s for %s", listen, socket_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(message)s")
    listen = os.environ.get("LISTEN", "0.0.0.0:2375")
    asyncio.run(serve(listen, os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")))


if __name__ == "__main__":
    main()
