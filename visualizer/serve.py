"""daphne, with request bodies capped before they are buffered and never written to disk.

``python -m visualizer.serve`` takes exactly daphne's command line (deploy/entrypoint.sh and ``./sv run``
start it so). Left alone, daphne (through twisted.web) buffers a whole request body before the
application sees any of it, in memory below 100,000 bytes and in a temporary file above, with no
limit: anyone who reaches the port can fill the disk, and a secret's value of a few hundred KiB
touches it. Here every body is held in memory, and one larger than MAX_REQUEST_BYTES is refused
with a 413:

- a Content-Length over the cap is refused as soon as the headers are in, before a byte of the
  body is read (and without the "100 Continue" a client may be waiting for);
- a chunked body is refused the moment it passes the cap;
- either way the connection then closes: the 413 goes out, the rest the client sends is read and
  thrown away for at most LINGER_SECONDS (so that the client sees the answer instead of a reset),
  then the connection is dropped.

The bodies of all requests in progress share a budget of BODIES_IN_FLIGHT times the cap (32 MiB by
default): clients that each send most of a body and then stall cannot add up to more memory than
that. A body that would pass the budget is refused the same way, with a 503 and Retry-After. Small
bodies (SMALL_BODY, 64 KiB: every sign-in form) never count against it, so that clients filling the
budget cannot keep anyone from signing in; they cost memory per connection, as the connection does.

Every body must arrive whole within REQUEST_BODY_SECONDS of its headers, else a 408 and the connection
closes: twisted's idle timeout starts again on every byte, so without this a client sending a byte
now and then would hold its share of the budget for ever.

Websockets are untouched: their handshake is a GET without a body, their messages have daphne's
own limits (--websocket-max-message-size). A handshake that carries a body is refused with a 400
before the body is read: daphne hands the connection to the websocket protocol with the body, and
the request that held it never finishes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from typing import Any, cast

# daphne.cli imports daphne.server, which must install its asyncio reactor before anything imports
# twisted's default one
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest

logger = logging.getLogger("visualizer.serve")

LINGER_SECONDS = 2.0
BODIES_IN_FLIGHT = 16
SMALL_BODY = 64 * 1024


SHUTDOWN_SECONDS = 2.0  # for the watchers to stop and a lease to be given back


def _too_large(limit: int) -> bytes:
    return _answer(
        "413 Content Too Large",
        f"this server accepts request bodies of at most {limit} bytes (MAX_REQUEST_BYTES).",
    )


def _busy() -> bytes:
    return _answer(
        "503 Service Unavailable",
        "too many request bodies are in progress on this server: try again in a moment.",
        "Retry-After: 5\r\n",
    )


def _too_slow(seconds: float) -> bytes:
    return _answer(
        "408 Request Timeout",
        f"the request body did not arrive within {seconds:g} seconds (REQUEST_BODY_SECONDS).",
    )


def _upgrade_with_body() -> bytes:
    return _answer("400 Bad Request", "a websocket handshake carries no request body.")


def _answer(status: str, text: str, extra: str = "") -> bytes:
    body = f"{status}: {text}\n".encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


class CappedRequest(WebRequest):  # type: ignore[misc]  # daphne is untyped
    """daphne's request, with its body in memory and at most ``limit`` bytes of it."""

    limit = 2 * 1024 * 1024
    body_seconds = 30.0
    # the bytes of body every request of this process holds right now (the reactor is one thread)
    held_in_process = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._size = 0  # bytes of body received
        self._held = 0  # of which counted against the process's budget
        self._refused = False
        self._deadline: Any = None
        super().__init__(*args, **kwargs)
        # twisted would parse a form body into request.args, a second copy that daphne never reads
        self._parsePOSTFormSubmission = False

    def gotLength(self, length: int | None) -> None:
        # twisted.web would pick a temporary file for a body of 100,000 bytes or more, or of unknown length
        self.content = io.BytesIO()
        if length == 0:  # no body (twisted says None for a chunked one)
            return
        if self.requestHeaders.hasHeader(b"upgrade"):
            self._refuse(_upgrade_with_body(), "a body on an Upgrade request")
        elif length is not None and length > self.limit:
            self._refuse(_too_large(self.limit), f"Content-Length {length}")
        else:
            self._deadline = self.channel.callLater(self.body_seconds, self._late)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        size = self._size + len(data)
        if size > self.limit:
            self._refuse(_too_large(self.limit), "a chunked body")
            return
        if size > SMALL_BODY:
            more = size - self._held
            if CappedRequest.held_in_process + more > BODIES_IN_FLIGHT * self.limit:
                self._refuse(_busy(), "the bodies in progress")
                return
            self._held = size
            CappedRequest.held_in_process += more
        self._size = size
        self.content.write(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        self._stop_deadline()  # the body is in
        if not self._refused:
            super().requestReceived(command, path, version)

    def process(self) -> Any:
        try:
            return super().process()
        finally:
            if self.transport is None:
                # daphne handed the connection to the websocket protocol: finish and connectionLost never run
                self._release()

    # a body counts against the budget until its response is finished or its connection is gone
    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._release()

    def connectionLost(self, reason: Any) -> None:
        try:
            super().connectionLost(reason)
        finally:
            self._stop_deadline()
            self._release()

    def _release(self) -> None:
        CappedRequest.held_in_process -= self._held
        self._held = 0

    def _late(self) -> None:
        self._deadline = None
        if not self._refused:
            self._refuse(_too_slow(self.body_seconds), f"{self._size} bytes of body in {self.body_seconds:g} s")

    def _stop_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _refuse(self, answer: bytes, what: str) -> None:
        """Answer and close, reading no more of this connection than it takes for the client to see it."""
        self._refused = True
        self.content = io.BytesIO()
        self._stop_deadline()
        self._release()
        channel, transport = self.channel, self.transport
        # no "100 Continue" for a body that will not be read (twisted sends it after gotLength)
        self.requestHeaders.removeHeader(b"expect")
        # everything the client still sends is dropped unparsed: no body, no further request on this connection
        channel.dataReceived = channel.rawDataReceived = channel.lineReceived = _discard
        channel.setTimeout(None)
        transport.write(answer)
        try:
            transport.loseWriteConnection()  # the 413, then FIN; reading goes on
        except AttributeError:  # a transport that cannot half-close (TLS, unix sockets on some reactors)
            transport.loseConnection()
        channel.callLater(LINGER_SECONDS, transport.abortConnection)  # twisted's own clock for its timeouts
        peer = transport.getPeer()
        logger.warning(
            "refused a request body (%s; MAX_REQUEST_BYTES %d): %s for %s %s from %s",
            answer.split(b"\r\n", 1)[0][9:].decode(),
            self.limit,
            what,
            _text(getattr(channel, "_command", b"")),
            _text(getattr(channel, "_path", b"").split(b"?", 1)[0]),  # the query may hold a kiosk token
            getattr(peer, "host", peer),
        )


def _discard(data: bytes) -> None:
    return None


def _text(value: bytes | None) -> str:
    return (value or b"").decode("ascii", "replace")[:200]


class CappedHTTPFactory(HTTPFactory):  # type: ignore[misc]  # daphne is untyped
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = CappedRequest
        return protocol


class CommandLine(CommandLineInterface):  # type: ignore[misc]  # daphne is untyped
    """daphne's command line; the application it loads also brings the settings, MAX_REQUEST_BYTES among them."""

    def load_asgi_app(self, asgi_app_path: str) -> Any:
        application = super().load_asgi_app(asgi_app_path)
        from django.conf import settings

        CappedRequest.limit = settings.MAX_REQUEST_BYTES
        CappedRequest.body_seconds = settings.REQUEST_BODY_SECONDS
        from twisted.internet import reactor

        # on SIGTERM (a drain, an update): stop the watchers and give a held watcher lease back, so
        # that another replica takes over at once rather than when the lease runs out
        cast(Any, reactor).addSystemEventTrigger("before", "shutdown", _stop_runtime)  # zope interface: no self
        return application


def _stop_runtime() -> Any:
    from twisted.internet import defer

    from dashboard import runtime

    async def stop() -> None:
        try:
            await asyncio.wait_for(runtime.stop(), timeout=SHUTDOWN_SECONDS)
        except Exception:  # shutting down all the same
            logging.getLogger(__name__).warning("the watchers did not stop cleanly", exc_info=True)

    return defer.Deferred.fromFuture(asyncio.ensure_future(stop()))


def main(argv: list[str]) -> None:
    import daphne.server

    # daphne.server.Server.run builds its HTTPFactory by this name: ours makes capped requests
    daphne.server.HTTPFactory = CappedHTTPFactory
    CommandLine().run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
