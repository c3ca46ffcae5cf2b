"""The agent's websocket to the dashboard (aiohttp's client): dial out, authenticate with the bearer
token on the handshake, say hello, read the welcome. After it, a ``resend`` from the dashboard asks
for a fresh inventory, and a close code says why it refused (messages.AGENT_CLOSE_*). The token is
in no log line and no error."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable

import aiohttp

from dashboard.agent.config import MIN_STATS_EVERY, AgentSettings
from dashboard.agent.messages import (
    AGENT_CLOSE_BUSY,
    AGENT_CLOSE_PROTOCOL,
    AGENT_CLOSE_REPLACED,
    AGENT_CLOSE_TOKEN,
    MAX_MESSAGE_BYTES,
    MESSAGES_BURST,
    MESSAGES_PER_SECOND,
    AgentMessage,
    Hello,
)
from dashboard.agent.wire import encode
from dashboard.live.budget import Bucket

WELCOME_SECONDS = 10.0  # a dashboard that accepted the socket but says nothing is as good as gone
HEARTBEAT_SECONDS = 20.0  # aiohttp pings; a dashboard that stops answering them is noticed
MAX_STATS_EVERY = 3600.0
# the agent's own pace: half of what the dashboard takes (hello and the welcome's round trip aside)
PACE_BURST = MESSAGES_BURST // 2
PACE_PER_SECOND = MESSAGES_PER_SECOND / 2


class LinkFailed(Exception):
    """The link could not be opened or was lost; ``str()`` says why, without the token."""


class LinkRefused(LinkFailed):
    """The dashboard refused this agent (a close code or an HTTP status on the handshake)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def refusal(code: int, where: str) -> str:
    """What a close code from the dashboard means, for the log."""
    if code == AGENT_CLOSE_TOKEN:
        return (
            f"the dashboard at {where} refused this agent's token (close {code}): AGENT_TOKEN or AGENT_TOKEN_FILE "
            "must hold the token the dashboard was given"
        )
    if code == AGENT_CLOSE_PROTOCOL:
        return (
            f"the dashboard at {where} refused a message of this agent (close {code}): is it another version, "
            "or is this node not (yet) one of the swarm the dashboard watches? (its log says which)"
        )
    if code == AGENT_CLOSE_BUSY:
        return f"the dashboard at {where} took no more of this agent's messages (close {code}): saying hello anew"
    if code == AGENT_CLOSE_REPLACED:
        return f"another agent said hello for this node to {where} (close {code}): is a second agent running here?"
    return f"the dashboard at {where} closed the link (close {code})"


class Link:
    """An open, welcomed link. ``send`` is safe from several tasks (frames never interleave), and
    paced below what the dashboard takes (PACE_BURST, then PACE_PER_SECOND)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, where: str, stats_every: float) -> None:
        self.ws, self.where, self.stats_every = ws, where, stats_every
        self._sending = asyncio.Lock()
        self.sent_bytes = 0
        self.pace = Bucket(PACE_BURST, PACE_PER_SECOND, asyncio.get_running_loop().time)

    def behind(self, waiting: int, within: float = 1.0) -> bool:
        """Would ``waiting`` messages take longer than ``within`` seconds at this pace?"""
        return waiting > self.pace.available() + within * self.pace.per_second

    async def send(self, message: AgentMessage) -> None:
        text = encode(message)
        size = len(text.encode())
        if size > MAX_MESSAGE_BYTES:  # the builders fit every message; this is the last guard
            raise ValueError(f"a {message['type']} message of {size} bytes is over {MAX_MESSAGE_BYTES}")
        async with self._sending:
            delay = self.pace.wait()
            if delay > 0:  # a hair longer: the token is surely there then, whatever the clock's resolution
                await asyncio.sleep(delay + 0.001)
            self.pace.take()
            try:
                await self.ws.send_str(text)
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as e:
                raise LinkFailed(f"the link to {self.where} broke while sending ({type(e).__name__})") from None
        self.sent_bytes += size

    async def closed(self, resend: Callable[[], None] = lambda: None) -> LinkFailed:
        """Reads until the dashboard closes the link; the reason. A ``resend`` calls ``resend``."""
        while True:
            msg = await self.ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return _closed(self.ws, self.where)
            if msg.type == aiohttp.WSMsgType.ERROR:
                return LinkFailed(f"the link to {self.where} failed: {type(self.ws.exception()).__name__}")
            if msg.type == aiohttp.WSMsgType.TEXT and _kind(msg.data) == "resend":
                resend()
            # anything else from the dashboard is not in the protocol: ignored, never acted upon

    async def close(self) -> None:
        await self.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)


def _kind(text: str) -> str | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    kind = message.get("type") if isinstance(message, dict) else None
    return kind if isinstance(kind, str) else None


def _closed(ws: aiohttp.ClientWebSocketResponse, where: str) -> LinkFailed:
    code = ws.close_code or 1006
    if code >= 4000:
        return LinkRefused(code, refusal(code, where))
    return LinkFailed(f"the dashboard at {where} closed the link (close {code})")


def _welcome(text: str, where: str) -> float:
    """``stats_every`` from the dashboard's welcome, within bounds; LinkFailed for anything else."""
    try:
        welcome = json.loads(text)
    except ValueError:
        welcome = None
    every = welcome.get("stats_every") if isinstance(welcome, dict) and welcome.get("type") == "welcome" else None
    if not isinstance(every, int | float) or isinstance(every, bool) or not math.isfinite(every):
        raise LinkFailed(f"the dashboard at {where} answered hello with something else than a welcome")
    return min(max(float(every), MIN_STATS_EVERY), MAX_STATS_EVERY)


async def open_link(session: aiohttp.ClientSession, settings: AgentSettings, hello: Hello) -> Link:
    """Dial the dashboard, say hello, wait for the welcome (bounded). Raises LinkFailed/LinkRefused."""
    where = settings.describe()
    try:
        ws = await session.ws_connect(
            settings.dashboard_url,
            headers={"Authorization": f"Bearer {settings.token}"},
            heartbeat=HEARTBEAT_SECONDS,
            ssl=settings.ssl_context() or True,
            max_msg_size=MAX_MESSAGE_BYTES,
            timeout=aiohttp.ClientWSTimeout(ws_close=1.0),  # SIGTERM ends the agent within about a second
        )
    except aiohttp.WSServerHandshakeError as e:
        if e.status in (401, 403):
            raise LinkRefused(
                e.status,
                f"the dashboard at {where} refused the handshake (HTTP {e.status}): check AGENT_TOKEN or "
                "AGENT_TOKEN_FILE holds the dashboard's agent token",
            ) from None
        raise LinkFailed(f"the dashboard at {where} answered the handshake with HTTP {e.status}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise LinkFailed(f"cannot reach the dashboard at {where}: {type(e).__name__}: {_short(e)}") from None
    try:
        await ws.send_str(encode(hello))
        async with asyncio.timeout(WELCOME_SECONDS):
            msg = await ws.receive()
    except TimeoutError:
        await ws.close()
        raise LinkFailed(f"the dashboard at {where} did not answer hello within {WELCOME_SECONDS:g}s") from None
    except (aiohttp.ClientError, ConnectionError) as e:
        await ws.close()
        raise LinkFailed(f"the link to {where} broke before the welcome ({type(e).__name__})") from None
    if msg.type != aiohttp.WSMsgType.TEXT:
        await ws.close()
        raise _closed(ws, where)
    try:
        stats_every = _welcome(msg.data, where)
    except LinkFailed:
        await ws.close()
        raise
    return Link(ws, where, stats_every)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
