"""Backpressure for websockets served by daphne: is the connection's write buffer full?

An ASGI ``send`` of a websocket frame returns as soon as daphne has handed the frame to Twisted,
which buffers whatever the client does not read, without bound: a page that never reads (a hostile
client, a frozen tab) would make the server hold every model and patch sent to it. ASGI has no way
to ask how much is still queued, so ``SendFlow``, the outermost ASGI middleware, finds daphne's
websocket protocol behind ``send`` (daphne passes ``functools.partial(server.handle_reply,
protocol)``) and registers a Twisted push producer on it (autobahn's public ``registerProducer``),
in place of the one daphne leaves there (the HTTP channel the socket was upgraded from, which still
hears every call, as before): Twisted then calls ``pauseProducing`` once more than its
``bufferSize`` (64 KiB) waits to be written and ``resumeProducing`` once all of it is. The
consumers (dashboard.live.guard) wait for that before each frame, so a socket holds at most its
buffer and a frame, and decide when waiting has gone on for too long.

Under another server (or a test's WebsocketCommunicator) there is no such protocol: ``Flow`` is then
not in the scope and frames go out as before.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

FLOW_KEY = "swarm_visualizer.flow"  # in scope["extensions"]


class Flow:
    """The write side of one websocket connection, as Twisted's producer callbacks tell it."""

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._writable = asyncio.Event()
        self._writable.set()
        self._registered = False
        self._previous: Any = None  # the producer daphne left on the transport
        self.stopped = False  # the connection is gone

    @property
    def paused(self) -> bool:
        return not self._writable.is_set()

    def start(self) -> bool:
        """Ask Twisted to tell us about its buffer (once the socket is accepted); False if it cannot."""
        if self._registered or self.stopped:
            return self._registered
        try:
            transport = self._protocol.transport
            previous = getattr(transport, "producer", None)
            if previous is not None:
                transport.unregisterProducer()
            self._previous = previous
            self._protocol.registerProducer(self, True)
        except Exception:  # another producer, a transport without the interface: no backpressure
            log.debug("no backpressure for this websocket", exc_info=True)
            return False
        self._registered = True
        return True

    def stop(self) -> None:
        """Forget the connection's buffer: Twisted waits for an unregistered producer before it
        closes a connection whose buffer was full, so this must happen when the socket closes."""
        self.stopped = True
        self._writable.set()  # nobody waits for a connection that is going
        if self._registered:
            self._registered = False
            try:
                self._protocol.unregisterProducer()
            except Exception:
                log.debug("the producer could not be unregistered", exc_info=True)

    async def writable(self, timeout: float) -> bool:
        """Wait until the buffer has drained (or the connection is gone); False after ``timeout``."""
        if self._writable.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._writable.wait()
        except TimeoutError:
            return False
        return True

    # --- IPushProducer, called by Twisted ---------------------------------------------------------

    def pauseProducing(self) -> None:  # Twisted's name
        if not self.stopped:
            self._writable.clear()
        if self._previous is not None:
            self._previous.pauseProducing()

    def resumeProducing(self) -> None:  # Twisted's name
        self._writable.set()
        if self._previous is not None:
            self._previous.resumeProducing()
        transport = getattr(self._protocol, "transport", None)
        if getattr(transport, "disconnecting", False):
            # a close asked for while the buffer was full waits for us: let it happen
            self.stop()

    def stopProducing(self) -> None:  # Twisted's name
        self._registered = False  # Twisted forgets it as the connection is lost
        self.stopped = True
        self._writable.set()
        if self._previous is not None:
            self._previous.stopProducing()


def daphne_protocol(send: Any) -> Any | None:
    """daphne's websocket protocol behind an ASGI ``send``, or None for any other server."""
    if isinstance(send, functools.partial) and len(send.args) == 1:
        protocol = send.args[0]
        if hasattr(protocol, "registerProducer") and hasattr(protocol, "transport"):
            return protocol
    return None


class SendFlow:
    """ASGI middleware (outermost: it must see daphne's own ``send``): a websocket's scope gets its
    ``Flow`` in ``scope["extensions"][FLOW_KEY]``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "websocket":
            protocol = daphne_protocol(send)
            if protocol is not None:
                extensions = dict(scope.get("extensions") or {})
                extensions[FLOW_KEY] = Flow(protocol)
                scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


def flow_of(scope: dict[str, Any]) -> Flow | None:
    found = (scope.get("extensions") or {}).get(FLOW_KEY)
    return found if isinstance(found, Flow) else None
