"""The live grid's websocket: the model on connect, then every patch, in seq order."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from dashboard import access, runtime
from dashboard.live import fanout
from dashboard.live import hub as live_hub
from dashboard.live import views as live_views
from dashboard.live.budget import Bucket
from dashboard.live.frames import model_frames, packed_frames, with_tasks
from dashboard.live.guard import GuardedConsumer
from dashboard.live.protocol import (
    CLIENT_TYPES,
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_SIGNED_OUT,
    CLOSE_TOO_MANY,
    HEARTBEAT_PARAM,
    PACK_PARAM,
    RESYNC_BURST,
    RESYNC_EVERY_SECONDS,
    ErrorMessage,
    HeartbeatMessage,
    PongMessage,
    SnapshotMessage,
    page_version,
)

log = logging.getLogger(__name__)


KIOSK_RECHECK_SECONDS = 3.0
CLOSE_INTERNAL = 1011  # RFC 6455: the server failed; a page reconnects after its backoff
# Both channel layers forget a group member after ``group_expiry`` (24 h by default) and the
# in-memory one drops a channel whose message waited over a minute: a socket that stays open for
# weeks (a wall) joins its groups again this often, and on every resync.
REJOIN_SECONDS = 3600.0


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


def _age(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _docker_every() -> float:
    """How often a healthy watcher hears from Docker on an idle swarm: its reconcile re-lists the
    tasks, and a silent event stream is pinged once it finds nothing heard for half the liveness
    bound, which it looks at every quarter of it."""
    watch = runtime.swarm().watcher.settings
    return min(watch.reconcile, watch.liveness * 3 / 4)


def _session_kiosk(scope: dict[str, Any]) -> object:
    """The kiosk token id the socket's session holds (its page's kiosk URL was exchanged for it)."""
    return access.kiosk_id_of(scope.get("session"))


class SwarmConsumer(GuardedConsumer):
    # the channel layer's groups (a kiosk token's: revocation), not Channels' ``groups``: Channels
    # leaves those before it calls disconnect, and a layer that fails there (Redis away) would skip
    # disconnect and leak the view and the tasks
    _groups: list[str] = []
    patch_group = ""  # dashboard.live.fanout's: the patches of this socket's view ("": none held)
    outbox: fanout.Outbox | None = None
    packed = False  # the page asked for the model compressed (?pack=1)
    view: live_views.View | None = None  # None: the whole model (see dashboard.live.views)
    _recheck: asyncio.Task[None] | None = None
    _beat: asyncio.Task[None] | None = None
    _rejoin: asyncio.Task[None] | None = None
    _last_sent = 0.0  # time.monotonic() of the last frame sent
    _model_sent = False  # the first model has gone out (a heartbeat before it would mean nothing)
    _resyncs: Bucket | None = None
    _resync_due: asyncio.Task[None] | None = None  # a resync put off until the budget allows it

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        client = self.scope.get("client") or ("", 0)
        viewer = await database_sync_to_async(access.viewer_for)(
            self.scope.get("user"),
            # pages from before the kiosk URL exchange still name the token here (they reload on
            # their first model, the server's pages being newer); today's pages have it in the session
            (query.get(access.KIOSK_PARAM) or [""])[0],
            remote_addr=str(client[0]),
            where="websocket",
            kiosk_id=await database_sync_to_async(_session_kiosk)(self.scope),
        )
        if viewer is None:
            # accepted, then closed: a page learns why (a refused handshake reaches it as 1006)
            await self.accept()
            await self.end(CLOSE_SIGNED_OUT, "sign in to see the swarm")
            return
        try:
            self.view = live_views.view_for(
                viewer.read_only, query, labels=settings.KIOSK_SHOW_LABELS, addresses=settings.KIOSK_SHOW_ADDRESSES
            )
        except ValueError as e:
            await self.accept()
            await self.end(CLOSE_BAD_REQUEST, str(e))
            return
        try:
            group = runtime.swarm().group if self.view is None else live_hub.hub(runtime.swarm()).acquire(self.view)
        except live_hub.TooManyViews as e:
            self.view = None  # not acquired: nothing to release
            await self.accept()
            await self.end(CLOSE_TOO_MANY, str(e))
            return
        self.patch_group = group  # patches come in process (dashboard.live.fanout)
        self._groups = [access.token_group(viewer.kiosk.pk)] if viewer.kiosk is not None else []
        self.packed = (query.get(PACK_PARAM) or [""])[0] == "1"
        try:
            await self.accept()
            await self.guard(viewer.user)
            await self._join()
            # only once joined: a socket whose join failed must leave nothing running
            if viewer.kiosk is not None:
                # revoking the token closes this socket: at once when revoked in this process (the
                # group), within KIOSK_RECHECK_SECONDS when revoked elsewhere (manage.py, another process)
                self._recheck = asyncio.create_task(self._recheck_token(viewer.kiosk.pk), name="kiosk-recheck")
            self._rejoin = asyncio.create_task(self._rejoin_every(REJOIN_SECONDS), name="swarm-socket-rejoin")
            # in the fan-out before the model is read: a patch newer than it waits in the outbox, an
            # older one is dropped by the page (its seq is not past the model's)
            self.outbox = fanout.Outbox(self._send_patch, self.send_snapshot)
            fanout.join(self.patch_group, self.outbox)
            async with fanout.slot():
                await self.send_snapshot()
            self.outbox.start(with_model=False)
        except Exception:
            # Channels calls disconnect only for a socket whose connect returned: let go here of
            # what this one holds (its view, its tasks, its guard's checks), or they would outlive it
            log.warning("a swarm socket could not start (its groups, the model): closing it", exc_info=True)
            await self._let_go()
            await self.close(code=CLOSE_INTERNAL)
            return
        if (query.get(HEARTBEAT_PARAM) or [""])[0] == "1":
            self._beat = asyncio.create_task(self._heartbeat(), name="swarm-socket-heartbeat")

    async def _join(self) -> None:
        """Join (again: it renews the membership's expiry) every group of this socket."""
        for group in self._groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _rejoin_every(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await self._join()
            except Exception:  # a layer down for a moment (Redis restarting): the next round joins
                log.warning("the socket could not join its groups again", exc_info=True)

    async def _heartbeat(self) -> None:
        """After every quiet ``every`` seconds only: under churn the patches prove the socket alive."""
        every = float(settings.SWARM_HEARTBEAT_SECONDS)
        while True:
            await asyncio.sleep(max(0.05, self._last_sent + every - time.monotonic()))
            if self._model_sent and time.monotonic() - self._last_sent >= every:
                watcher = runtime.swarm().watcher
                snapshot = watcher.snapshot
                await self.send_json(
                    HeartbeatMessage(
                        type="heartbeat",
                        seq=snapshot.seq,
                        epoch=watcher.epoch,
                        state=snapshot.status.state,
                        every=every,
                        docker_age=_age(watcher.docker_age()),
                    )
                )

    async def _recheck_token(self, token_id: int) -> None:
        while True:
            await asyncio.sleep(KIOSK_RECHECK_SECONDS)
            if not await database_sync_to_async(access.token_is_live)(token_id):
                await self.kiosk_revoked({})
                return

    async def disconnect(self, code: int) -> None:
        await self._let_go()

    async def _let_go(self) -> None:
        """Stop this socket's tasks, give back its view, leave its groups; once only (a socket
        closed by a failed connect is told of its disconnect afterwards)."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        for task in (self._beat, self._rejoin, self._resync_due):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._beat = self._rejoin = self._resync_due = None
        groups, self._groups = self._groups, []
        held, self.patch_group = self.patch_group, ""
        outbox, self.outbox = self.outbox, None
        if outbox is not None:
            fanout.leave(held, outbox)
            await outbox.stop()
        if self.view is not None and held:
            live_hub.hub(runtime.swarm()).release(self.view)
        try:
            await self.unguard()
            for group in groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:  # the layer down: its groups forget this channel after group_expiry
            log.warning("a swarm socket could not leave its groups", exc_info=True)
            if self._flow is not None:
                self._flow.stop()  # unguard stopped short of it: Twisted would not close the connection

    async def kiosk_revoked(self, event: dict[str, Any]) -> None:
        if self._recheck is not None and self._recheck is not asyncio.current_task():
            self._recheck.cancel()
        await self.end(CLOSE_FORBIDDEN, "this kiosk token was revoked or has expired")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await self.admit():
            return
        try:
            message = json.loads(text_data) if text_data is not None else None
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in CLIENT_TYPES:
            await self.send_json(
                ErrorMessage(type="error", error=f"malformed frame: expected a JSON object with type in {CLIENT_TYPES}")
            )
            return
        if kind == "resync":
            await self._resync()
        elif kind == "pong":
            assert isinstance(message, dict)
            self.pong(message)
        else:
            await self.send_json(PongMessage(type="pong", seq=runtime.swarm().watcher.snapshot.seq))

    async def _resync(self) -> None:
        """The whole model again, within the budget: beyond it, once the budget allows, however
        many were asked meanwhile (each is megabytes on a large swarm)."""
        if self._resyncs is None:
            self._resyncs = Bucket(RESYNC_BURST, 1 / RESYNC_EVERY_SECONDS, asyncio.get_running_loop().time)
        if self._resync_due is not None:
            return  # one is on its way
        if not self._resyncs.take():
            wait = self._resyncs.wait()
            self._resync_due = asyncio.create_task(self._resync_later(wait), name="swarm-socket-resync")
            await self.send_json(
                ErrorMessage(
                    type="error",
                    error=f"too many resyncs (at most {RESYNC_BURST}, then one every {RESYNC_EVERY_SECONDS:g} s): "
                    f"the model follows in {wait:.1f} s",
                )
            )
            return
        if self.outbox is not None:
            self.outbox.want_model()  # in order with the patches: the outbox sends it next

    async def _resync_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._resync_due = None
        if self.outbox is not None:
            self.outbox.want_model()  # in order with the patches

    async def send_snapshot(self) -> None:
        """The model in frames that each stay far below daphne's 1 MB limit: nodes, services and
        tasks all travel in bounded chunks (500 nodes and 700 services alone are ~800 KB). The
        frames are made once per model and view, and shared by every socket sent that model."""
        watcher = await runtime.swarm().first_sync(timeout=5)
        snapshot, epoch, view = watcher.snapshot, watcher.epoch, self.view  # together: one model, one epoch
        frames = model_frames(
            snapshot,
            epoch,
            view,
            None if view is None else lambda whole: live_hub.hub(runtime.swarm()).parts(snapshot, whole, view),
        )
        if self.packed:
            parts = await packed_frames(frames, self.view)
            header = SnapshotMessage(
                type="snapshot",
                seq=frames.seq,
                epoch=frames.epoch,
                status=frames.status,
                nodes=[],
                services=[],
                tasks=[],
                more=False,
                docker_age=_age(watcher.docker_age()),
                docker_every=_docker_every(),
                version=page_version(),
                packed=len(parts),
            )
            await self.send_json(header)
            for part in parts:
                await self.send(bytes_data=part)
            self._model_sent = True
            return
        first = SnapshotMessage(
            type="snapshot",
            seq=frames.seq,
            epoch=frames.epoch,
            status=frames.status,
            nodes=frames.first_nodes,
            services=frames.first_services,
            tasks=[],
            more=bool(frames.rest),
            docker_age=_age(watcher.docker_age()),
            docker_every=_docker_every(),
            version=page_version(),
        )
        await self.send(text_data=with_tasks(first, frames.first_tasks))
        for text in frames.rest:
            await self.send(text_data=text)
        self._model_sent = True

    async def swarm_patch(self, event: dict[str, Any]) -> None:
        """A patch through the channel layer (none of the dashboard's own: they come in process)."""
        if self.outbox is not None:
            self.outbox.offer(str(event["text"]))

    async def _send_patch(self, text: str) -> None:
        await self.send(text_data=text)

    async def send_json(self, message: Any) -> None:
        await self.send(text_data=_dumps(message))

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        self._last_sent = time.monotonic()
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
