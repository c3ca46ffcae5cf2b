"""/ws/agent: where node agents dial in (dashboard.agent.messages), thin.

Admission is the shared token alone: ``Authorization: Bearer <AGENT_TOKEN>``, compared in constant
time, never logged. The route sits outside the pages' session and origin checks
(dashboard.live.routing), so a session cookie admits nothing here, and the token admits nothing
else (no page reads it). A browser always sends an Origin, an agent never does: a handshake with one
is refused, so that no page of any site can make a visitor's browser talk to this endpoint.

Every message is parsed (dashboard.core.agents) before anything else sees it; a malformed one closes
the socket with AGENT_CLOSE_PROTOCOL and changes nothing; more messages than MESSAGES_BURST, then
MESSAGES_PER_SECOND, close it with AGENT_CLOSE_BUSY. The first must be ``hello``, for a node of the
swarm (the token is shared: it does not let anyone invent a node): the node it names is what the
socket speaks for from then on, and a later hello for the same node (on any process) replaces this
socket (AGENT_CLOSE_REPLACED). What the agent says goes to the swarm's watcher, wherever it runs
(dashboard.core.registry.Swarm.agent_said); the watcher may ask it for a fresh inventory (``resend``,
through the channel layer: dashboard.runtime).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from dashboard import runtime
from dashboard.agent.messages import (
    AGENT_CLOSE_BUSY,
    AGENT_CLOSE_PROTOCOL,
    AGENT_CLOSE_REPLACED,
    AGENT_CLOSE_TOKEN,
    AGENT_PATH,
    MESSAGES_BURST,
    MESSAGES_PER_SECOND,
    Resend,
    Welcome,
)
from dashboard.core.agents import AgentProtocolError, parse_message
from dashboard.live.budget import Bucket

log = logging.getLogger(__name__)


def announce() -> None:
    """Once at start: whether agents can connect at all."""
    if settings.AGENT_TOKEN:
        log.info("node agents may connect at %s (AGENT_TOKEN is set)", AGENT_PATH)
    else:
        log.warning("node agents are off: AGENT_TOKEN is not set, %s refuses every agent", AGENT_PATH)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def token_admits(scope: dict[str, Any], token: str | None) -> bool:
    """Does the handshake carry ``Authorization: Bearer <token>``? Always False without a token."""
    given = _header(scope, b"authorization") or ""
    scheme, _, value = given.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


class OncePerMinute:
    """What happens again and again (an agent with a wrong token retries for ever), logged once a
    minute per key with the count of the rest."""

    def __init__(self, every: float = 60.0, most: int = 1000) -> None:
        self.every, self.most = every, most
        self._keys: dict[str, tuple[float, int]] = {}  # key -> when it was last logged, how often since

    def note(self, key: str, now: float) -> int | None:
        """None: counted, not to be logged now; else log it, with this many since the last line."""
        logged_at, since = self._keys.get(key, (-math.inf, 0))
        if now - logged_at < self.every:
            self._keys[key] = (logged_at, since + 1)
            return None
        if key not in self._keys and len(self._keys) >= self.most:
            self._keys.clear()
        self._keys[key] = (now, 0)
        return since


_refusals = OncePerMinute()  # per peer
_replacements = OncePerMinute()  # per node


def log_refusal(peer: str, why: str, now: float) -> None:
    since = _refusals.note(peer, now)
    if since is not None:
        more = f" ({since} more refused since the last line)" if since else ""
        log.warning("agent socket from %s refused: %s%s", peer, why, more)


def log_replaced(node_id: str, peer: str, now: float) -> None:
    """A node's agent replaced by a newer socket: once is a restart; again and again, two agents
    (or someone with the token) speak for the same node."""
    since = _replacements.note(node_id, now)
    if since == 0:
        log.info("node agent of %s from %s replaced by a newer connection", node_id, peer)
    elif since is not None:
        log.warning("node agent of %s replaced %d more times within a minute (last from %s): are two agents "
                    "running for this node, or is someone else speaking for it?", node_id, since + 1, peer)  # fmt: skip


def group_of(node_id: str) -> str:
    return f"agent.{node_id}"


class AgentConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    node_id = ""  # what the hello said: the node this socket speaks for
    _closed = False
    _budget: Bucket | None = None

    @property
    def peer(self) -> str:
        client = self.scope.get("client") or ("?", 0)
        return str(client[0])

    async def connect(self) -> None:
        # accepted, then closed: an agent learns the close code (a refused handshake is a bare 403)
        await self.accept()
        if _header(self.scope, b"origin") is not None:
            log_refusal(self.peer, "a browser's handshake (it sent an Origin)", time.monotonic())
            await self._refuse(AGENT_CLOSE_TOKEN)
            return
        if not token_admits(self.scope, settings.AGENT_TOKEN):
            why = "agents are off (AGENT_TOKEN is not set)" if not settings.AGENT_TOKEN else "no or wrong token"
            log_refusal(self.peer, why, time.monotonic())
            await self._refuse(AGENT_CLOSE_TOKEN)
            return
        self._budget = Bucket(MESSAGES_BURST, MESSAGES_PER_SECOND, asyncio.get_running_loop().time)

    async def _refuse(self, code: int) -> None:
        self._closed = True
        await self.close(code=code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._closed or self._budget is None:
            return
        text = text_data if text_data is not None else ""
        if not self._budget.take():
            # not malformed, too many: the agent learns which (it paces itself below this)
            log.warning("agent socket of node %s from %s closed: more than %g messages a second",
                        self.node_id or "?", self.peer, MESSAGES_PER_SECOND)  # fmt: skip
            await self._refuse(AGENT_CLOSE_BUSY)
            return
        try:
            message = parse_message(text_data if text_data is not None else (bytes_data or b""))
            if not self.node_id and message["type"] != "hello":
                raise AgentProtocolError(f"the first message must be hello, not {message['type']}")
            if self.node_id and message["type"] == "hello":
                raise AgentProtocolError("a second hello on one socket")
            if message["type"] == "hello":
                # the token is shared: it must not let anyone speak for a node the swarm does not
                # have (a node that just joined is in the model after the next listing: the agent
                # tries again with backoff). Before the first listing there is nothing to check.
                nodes = runtime.swarm().watcher.snapshot.nodes
                if nodes and message["node_id"] not in nodes:
                    raise AgentProtocolError(f"hello.node_id {message['node_id']}: not a node of this swarm (yet)")
        except AgentProtocolError as e:
            log.warning("agent socket of node %s from %s refused: %s", self.node_id or "?", self.peer, e)
            await self._refuse(AGENT_CLOSE_PROTOCOL)
            return
        if message["type"] == "hello":
            self.node_id = message["node_id"]
            log.info("node agent of %s (%r) connected from %s", self.node_id, message["hostname"][:64], self.peer)
            # any other socket of this node, on any process, gives way to this one
            await self.channel_layer.group_add(group_of(self.node_id), self.channel_name)
            await self.channel_layer.group_send(
                group_of(self.node_id), {"type": "agent.replaced", "conn": self.channel_name}
            )
            welcome = Welcome(type="welcome", stats_every=float(settings.AGENT_STATS_EVERY))
            await self.send(text_data=json.dumps(welcome))
        try:
            await runtime.swarm().agent_said(self.node_id, self.channel_name, message, text)
        except Exception as e:  # Redis away: this word is lost, the reconcile still catches what it said
            log.warning("a message of the node agent of %s could not reach the watcher: %s", self.node_id, e)

    async def agent_resend(self, event: dict[str, Any]) -> None:
        """The watcher heard of this agent without its hello (a new leader; back after its ttl)."""
        if self.node_id and not self._closed:
            await self.send(text_data=json.dumps(Resend(type="resend")))

    async def agent_replaced(self, event: dict[str, Any]) -> None:
        if event.get("conn") != self.channel_name and not self._closed:
            log_replaced(self.node_id, self.peer, time.monotonic())
            await self._refuse(AGENT_CLOSE_REPLACED)

    async def disconnect(self, code: int) -> None:
        if not self.node_id:
            return
        try:
            await self.channel_layer.group_discard(group_of(self.node_id), self.channel_name)
        except Exception:  # the layer down: its groups forget this channel after group_expiry
            log.warning("an agent socket could not leave its group", exc_info=True)
        try:
            await runtime.swarm().agent_gone(self.node_id, self.channel_name)
        except Exception as e:  # its ttl ends it at the watcher instead
            log.warning("the goodbye of the node agent of %s could not reach the watcher: %s", self.node_id, e)
