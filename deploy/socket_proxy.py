"""A read-only Docker API proxy: GET and HEAD on the endpoints the dashboard reads, nothing else.

The dashboard then holds no Docker socket at all: it reaches this proxy over an overlay network
(DOCKER_HOST=tcp://socket-proxy:2375), and only this small process can write to the daemon.
Refused on purpose although they are GETs: ``/swarm`` (its answer holds the join tokens, enough to
join a manager), container archives and exports (files of any container), image exports, and every
upgrade (``attach/ws`` writes to a container's stdin).

The request head is parsed strictly (h11, plus the checks h11 leaves to the application): a line
ended by a lone LF or CR, a folded header line, any Content-Length but one ``0``, any
Transfer-Encoding, Upgrade or Expect, an absolute or authority target and CONNECT are refused with
400 or 403, because dockerd's Go server reads some of them differently and a second request could
hide behind the first. What goes upstream is a request the proxy writes itself from the parsed head,
never the client's bytes, with ``Connection: close``: one request per connection, and whatever the
client sends after its first head is read and dropped.

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

import h11

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
# headers that announce a body, a protocol switch or an interim answer: a read needs none of them
REFUSED_HEADERS = {"transfer-encoding", "upgrade", "expect", "http2-settings"}
MAX_HEAD = 64 * 1024
HEAD_TIMEOUT = 30
# request target: origin-form only, as printable ASCII; the query may hold anything printable but "#"
_TARGET = re.compile(r"^/(?!/)[\x21-\x7e]*$")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def allowed(method: str, target: str) -> bool:
    if method not in ALLOWED_METHODS or not _TARGET.match(target) or "#" in target:
        return False
    path = target.partition("?")[0]
    return ALLOWED_PATH.match(path) is not None


def refusal(status: int, message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    reason = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 431: "Request Header Fields Too Large"}
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def check_framing(head: bytes) -> None:
    """What h11 tolerates and dockerd may read otherwise: lone LF or CR, folded lines, NUL, body framing."""
    if b"\0" in head:
        raise Refused(400, "NUL in the request head")
    if head.count(b"\n") != head.count(b"\r\n") or head.count(b"\r") != head.count(b"\r\n"):
        raise Refused(400, "request head lines must end with CRLF")
    lines = head.split(b"\r\n")
    fields = lines[1:]
    while fields and fields[-1] == b"":
        fields.pop()
    lengths = []
    for line in fields:
        if line[:1] in (b" ", b"\t"):
            raise Refused(400, "folded header lines (obs-fold) are refused")
        name, colon, value = line.partition(b":")
        if not colon or name != name.strip():
            raise Refused(400, "malformed header line")
        if name.lower() == b"content-length":
            lengths.append(value.strip())
    if lengths not in ([], [b"0"]):
        raise Refused(403, "read-only Docker proxy: a request body is refused")


def parse_head(head: bytes) -> h11.Request:
    """The request in ``head`` (which ends with the blank line), or Refused."""
    check_framing(head)
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as e:
        raise Refused(400, f"malformed request: {e}") from None
    if not isinstance(event, h11.Request):
        raise Refused(400, "malformed request")
    return event


def upstream_request(event: h11.Request) -> bytes:
    """The request to send to the daemon, written by the proxy from the parsed head, or Refused."""
    method = event.method.decode("ascii")
    target = event.target.decode("ascii")
    if event.http_version != b"1.1" and event.http_version != b"1.0":
        raise Refused(400, "HTTP/1.0 or HTTP/1.1 only")
    names = {name for name, _ in event.headers}
    if refused := {name.decode("ascii") for name in names} & REFUSED_HEADERS:
        raise Refused(403, f"read-only Docker proxy: {', '.join(sorted(refused))} refused")
    if not allowed(method, target):
        raise Refused(403, f"read-only Docker proxy: {method} {target.partition('?')[0][:200]}")
    connection_tokens = {
        token.strip().lower() for name, value in event.headers if name == b"connection" for token in value.split(b",")
    }
    headers = [
        (raw, value)
        for raw, value in event.headers.raw_items()
        if (name := raw.lower()).decode("ascii") not in HOP_BY_HOP
        and name not in connection_tokens
        and name != b"content-length"
    ]
    if b"host" not in names:
        headers.append((b"Host", b"docker"))  # an HTTP/1.0 client may send none; HTTP/1.1 needs one
    headers.append((b"Connection", b"close"))
    client = h11.Connection(h11.CLIENT)
    data = client.send(h11.Request(method=method, target=target, headers=headers))
    assert data is not None
    return data


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """Bytes up to and with the first blank line; a lone LF anywhere is refused as soon as it arrives."""
    buffer = b""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_HEAD:
            raise Refused(431, "request head too large")
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionResetError("client closed before its request head ended")
        buffer += chunk
        if re.search(rb"(?<!\r)\n", buffer):
            raise Refused(400, "request head lines must end with CRLF")
    if end + 4 > MAX_HEAD:
        raise Refused(431, "request head too large")
    # bytes after the head (a body or a second request) are never looked at nor forwarded
    return buffer[: end + 4]


class Proxy:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(read_head(reader), timeout=HEAD_TIMEOUT)
            except TimeoutError:
                raise Refused(408, "request head not received in time") from None
            forward = upstream_request(parse_head(head))
        except Refused as e:
            log.warning("refused (%d): %s", e.status, e.message)
            writer.write(refusal(e.status, e.message))
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
        # the daemon's answer is relayed as it comes; drain() holds the daemon back while the client is slow
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
