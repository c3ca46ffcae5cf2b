"""What every websocket of the dashboard owes the server: budgets, liveness, and its user's rights.

- What it sends waits while the connection's write buffer is full (dashboard.live.flow); a client
  that reads nothing for WS_SEND_STALL_SECONDS is closed with CLOSE_TOO_SLOW. Memory per socket is
  then Twisted's buffer and a frame, whatever the client does.
- Frames from the client are rationed (FRAMES_BURST, then FRAMES_PER_SECOND): beyond, CLOSE_TOO_MANY.
- A client that sends frames is pinged by the application: daphne pings only sockets that have been
  silent for its ping interval, and autobahn counts any incoming frame as the pong (its
  ``autoPingRestartOnAnyTraffic``), so a client that keeps sending and never reads would never be
  found out. Once WS_PING_SECONDS have passed since its last proof of reading, its next frame gets
  a ``ping``; without the ``pong`` within WS_PING_TIMEOUT_SECONDS it is closed with CLOSE_TOO_SLOW.
- A signed-in user's socket joins its user's and its session's groups (dashboard.access.sessions)
  and checks its standing every SESSION_RECHECK_SECONDS: signed out, deactivated, a new password,
  another role, and it closes with CLOSE_SIGNED_OUT or CLOSE_FORBIDDEN, saying why first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from dashboard.access.sessions import Ending, Standing, session_group, standing_of, user_group, verdict
from dashboard.live.budget import Bucket
from dashboard.live.flow import Flow, flow_of
from dashboard.live.protocol import (
    CLOSE_TOO_MANY,
    CLOSE_TOO_SLOW,
    FRAMES_BURST,
    FRAMES_PER_SECOND,
    ErrorMessage,
    PingMessage,
)

log = logging.getLogger(__name__)

# the kiosk cadence (swarm_socket.KIOSK_RECHECK_SECONDS): a change no signal of this process saw
SESSION_RECHECK_SECONDS = 3.0
REJOIN_EVERY = 1200  # rechecks (an hour): the layers forget a group member after a day


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


class GuardedConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    _flow: Flow | None = None
    _closing = False
    _standing: Standing | None = None
    _frames: Bucket | None = None
    _ping_id: str | None = None
    _last_proof = 0.0  # the loop's time of the connection or of the last pong
    _guard_groups: tuple[str, ...] = ()
    _guard_tasks: tuple[asyncio.Task[None], ...] = ()
    _ping_watch: asyncio.Task[None] | None = None

    async def guard(self, user: Any) -> None:
        """Once accepted: backpressure, the frame budget, and for a signed-in user, their rights."""
        loop = asyncio.get_running_loop()
        self._frames = Bucket(FRAMES_BURST, FRAMES_PER_SECOND, loop.time)
        self._last_proof = loop.time()
        flow = flow_of(self.scope)
        if flow is not None and flow.start():
            self._flow = flow
        if user is None or not user.is_authenticated:
            return
        session = self.scope.get("session")
        key = getattr(session, "session_key", None) if session is not None else None
        self._standing = await database_sync_to_async(standing_of)(user, key)
        self._guard_groups = (user_group(user.pk), *((session_group(key),) if key else ()))
        await self._join_guard_groups()
        self._guard_tasks = (asyncio.create_task(self._recheck_every(), name="socket-session-recheck"),)

    async def _join_guard_groups(self) -> None:
        for group in self._guard_groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def unguard(self) -> None:
        """On disconnect: stop the checks, leave the groups, let go of the connection's buffer."""
        tasks = (*self._guard_tasks, *((self._ping_watch,) if self._ping_watch is not None else ()))
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not current), return_exceptions=True)
        self._guard_tasks, self._ping_watch = (), None
        for group in self._guard_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self._guard_groups = ()
        if self._flow is not None:
            self._flow.stop()

    async def end(self, code: int, reason: str, *, say: bool = True) -> None:
        """Close the socket with ``code``, after an ``error`` frame that says why (unless the client
        reads nothing anyway). Nothing is sent on it afterwards."""
        if self._closing:
            return
        log.info("closing websocket %s (%d): %s", self.scope.get("path", ""), code, reason)
        if say:
            await self.send(text_data=_dumps(ErrorMessage(type="error", error=reason)))
            if not self.is_open():  # closed while the reason waited to be sent (the client reads nothing)
                return
        self._closing = True
        if self._flow is not None:
            self._flow.stop()  # Twisted closes a connection only once no producer holds it
        await self.close(code=code)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        if self._closing:
            return
        flow = self._flow
        if flow is not None and flow.paused:
            stall = float(settings.WS_SEND_STALL_SECONDS)
            if not await flow.writable(stall):
                await self.end(CLOSE_TOO_SLOW, f"the client read nothing for {stall:g} s", say=False)
                return
            if not self.is_open():  # closed while this frame waited
                return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    # --- what the client sends ---------------------------------------------------------------------

    async def admit(self) -> bool:
        """Call first for every frame received: False when the socket is being closed for it."""
        if self._closing:
            return False
        if self._frames is not None and not self._frames.take():
            await self.end(
                CLOSE_TOO_MANY,
                f"too many messages: at most {FRAMES_BURST} at once, then {FRAMES_PER_SECOND:g} a second",
            )
            return False
        await self._maybe_ping()
        return self.is_open()

    def is_open(self) -> bool:
        return not self._closing

    async def _maybe_ping(self) -> None:
        loop = asyncio.get_running_loop()
        if self._ping_id is not None or loop.time() - self._last_proof < float(settings.WS_PING_SECONDS):
            return
        ping_id = secrets.token_hex(4)
        self._ping_id = ping_id
        await self.send(text_data=_dumps(PingMessage(type="ping", id=ping_id)))
        self._ping_watch = asyncio.create_task(self._await_pong(ping_id), name="socket-ping-watch")

    async def _await_pong(self, ping_id: str) -> None:
        timeout = float(settings.WS_PING_TIMEOUT_SECONDS)
        await asyncio.sleep(timeout)
        if self._ping_id == ping_id:
            self._ping_watch = None  # this task: not to be cancelled by the close it causes
            await self.end(CLOSE_TOO_SLOW, f"no answer to a ping within {timeout:g} s", say=False)

    def pong(self, message: dict[str, Any]) -> None:
        """The client's answer to our ping: it reads what we send."""
        if self._ping_id is not None and message.get("id") == self._ping_id:
            self._ping_id = None
            self._last_proof = asyncio.get_running_loop().time()
            if self._ping_watch is not None:
                self._ping_watch.cancel()
                self._ping_watch = None

    # --- the user's rights -------------------------------------------------------------------------

    async def _recheck_every(self) -> None:
        rounds = 0
        while not self._closing:
            await asyncio.sleep(SESSION_RECHECK_SECONDS)
            rounds += 1
            try:
                if rounds % REJOIN_EVERY == 0:
                    await self._join_guard_groups()
                await self._recheck_standing()
            except Exception:  # the database or the layer away for a moment: the next round checks
                log.warning("a websocket could not check its user's standing", exc_info=True)

    async def _recheck_standing(self, *, fresh: bool = False) -> None:
        if self._standing is None or self._closing:
            return
        ending = await shared_verdict(self._standing, fresh=fresh)
        if ending is not None:
            await self.end(ending.code, ending.reason)

    async def session_ended(self, event: dict[str, Any]) -> None:
        """Signed out in this session, or the account removed (dashboard.access.sessions)."""
        await self.end(int(event["code"]), str(event["reason"]))

    async def session_recheck(self, event: dict[str, Any]) -> None:
        """The user changed (active, password, role): check now, not at the next round."""
        await self._recheck_standing(fresh=True)


# One database read per standing (user, session, password, role) per round, however many sockets
# hold it: a wall of tabs, or hundreds of screens signed in as one user, would otherwise cost a
# query per socket every round. A signal (session_recheck) makes each socket it reaches ask on its
# own (a change was just saved: an answer read before it would be stale).
_verdicts: dict[Standing, tuple[float, asyncio.Future[Ending | None]]] = {}
VERDICTS_KEPT = 10_000  # standings remembered; the oldest are forgotten first


def _retrieve(future: asyncio.Future[Ending | None]) -> None:
    if not future.cancelled():
        future.exception()


async def shared_verdict(standing: Standing, *, fresh: bool = False) -> Ending | None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    hit = _verdicts.get(standing)
    # shared for a third of a round: a change no signal saw is still found within ~1.3 rounds
    if fresh or hit is None or hit[1].get_loop() is not loop or now - hit[0] >= SESSION_RECHECK_SECONDS / 3:
        hit = (now, asyncio.ensure_future(database_sync_to_async(verdict)(standing)))
        # a failure is re-raised to each waiter; if none is left to take it (all cancelled), asyncio
        # would log "exception was never retrieved" when the future is forgotten
        hit[1].add_done_callback(_retrieve)
        _verdicts.pop(standing, None)
        _verdicts[standing] = hit
        while len(_verdicts) > VERDICTS_KEPT:
            del _verdicts[next(iter(_verdicts))]
    return await asyncio.shield(hit[1])
