"""A signed-in user's websockets end with the rights they were opened with.

Every socket of a signed-in user joins two groups: its session's (signing out closes the sockets of
that browser) and its user's (deactivation, a new password, a role change or removal close or
re-check every socket of that user, in every process when the channel layer is Redis). The signals
below tell those groups; each socket also re-checks its standing on its own every few seconds
(dashboard.live.guard), for changes no signal of this process saw: ``manage.py changepassword``,
another process without Redis, an expired session.

What a socket checks is what Django checks on each request: the session still exists and names the
user, the user is active and the session's auth hash matches the password's (``get_user``) - and
that the user's role is the one the socket was opened with.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db import transaction
from django.utils.crypto import constant_time_compare

from dashboard.access.roles import role_of

log = logging.getLogger(__name__)

SIGNED_OUT = 4401  # dashboard.live.protocol.CLOSE_SIGNED_OUT
FORBIDDEN = 4403  # dashboard.live.protocol.CLOSE_FORBIDDEN


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def session_group(session_key: str) -> str:
    """A session's group: named by a digest, so that no session key lands in Redis' key names."""
    return f"session-{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


@dataclass(frozen=True, slots=True)
class Standing:
    """What a socket was opened with."""

    user_id: int
    session_key: str | None
    auth_hash: str
    role: str


@dataclass(frozen=True, slots=True)
class Ending:
    code: int
    reason: str


def standing_of(user: Any, session_key: str | None) -> Standing:
    return Standing(
        user_id=user.pk, session_key=session_key, auth_hash=user.get_session_auth_hash(), role=role_of(user)
    )


def verdict(standing: Standing) -> Ending | None:
    """None while the socket may stay open; else why it must close (database reads: run in a thread)."""
    user = get_user_model().objects.filter(pk=standing.user_id).first()
    if user is None:
        return Ending(SIGNED_OUT, "your account was removed")
    if not user.is_active:
        return Ending(FORBIDDEN, "your account was deactivated")
    if not constant_time_compare(user.get_session_auth_hash(), standing.auth_hash):
        return Ending(SIGNED_OUT, "your password was changed: sign in again")
    if standing.session_key is not None:
        store = import_module(settings.SESSION_ENGINE).SessionStore(standing.session_key)
        data = store.load()  # {} for a session that is gone or expired
        if str(data.get(SESSION_KEY, "")) != str(user.pk):
            return Ending(SIGNED_OUT, "your session has ended: sign in again")
        if not constant_time_compare(str(data.get(HASH_SESSION_KEY, "")), standing.auth_hash):
            return Ending(SIGNED_OUT, "your password was changed: sign in again")
    if role_of(user) != standing.role:
        return Ending(FORBIDDEN, "your role has changed: reload the page")
    return None


# --- telling the sockets ---------------------------------------------------------------------------


_sending: set[asyncio.Task[None]] = set()


def _tell(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        if loop is None:
            async_to_sync(layer.group_send)(group, message)
        else:  # a signal sent from the event loop's own thread (async code saving a user)
            task = loop.create_task(layer.group_send(group, message))
            _sending.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(_sending.discard)
    except Exception:  # a layer down (Redis restarting): the sockets' own re-check still comes
        log.warning("the sockets of %s could not be told", group, exc_info=True)


def recheck_user(user_id: int) -> None:
    """Every socket of this user checks its standing now (after the change is committed)."""
    transaction.on_commit(lambda: _tell(user_group(user_id), {"type": "session.recheck"}))


def on_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        _tell(session_group(key), {"type": "session.ended", "code": SIGNED_OUT, "reason": "you signed out"})


_WATCHED = ("is_active", "password")


def on_user_pre_save(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None or (update_fields is not None and not set(_WATCHED) & set(update_fields)):
        instance._sockets_before = None
        return
    instance._sockets_before = sender.objects.filter(pk=instance.pk).values_list(*_WATCHED).first()


def on_user_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    before = getattr(instance, "_sockets_before", None)
    if created or before is None:
        return
    if tuple(getattr(instance, f) for f in _WATCHED) != tuple(before):
        recheck_user(instance.pk)


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    pk = instance.pk
    message = {"type": "session.ended", "code": SIGNED_OUT, "reason": "your account was removed"}
    transaction.on_commit(lambda: _tell(user_group(pk), message))


def on_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any = None, **kwargs: Any
) -> None:
    """A user's groups are their role: a user given or taken a group, or a group given or taken users."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        recheck_user(instance.pk)
    else:
        for user_id in pk_set or ():
            recheck_user(user_id)


def connect_signals() -> None:
    from django.contrib.auth.signals import user_logged_in, user_logged_out
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

    from dashboard.access.kiosk import on_logged_in

    model = get_user_model()
    user_logged_in.connect(on_logged_in, dispatch_uid="kiosk-session-login")
    user_logged_out.connect(on_logged_out, dispatch_uid="sockets-logout")
    pre_save.connect(on_user_pre_save, sender=model, dispatch_uid="sockets-user-pre-save")
    post_save.connect(on_user_saved, sender=model, dispatch_uid="sockets-user-saved")
    post_delete.connect(on_user_deleted, sender=model, dispatch_uid="sockets-user-deleted")
    m2m_changed.connect(on_groups_changed, sender=model.groups.through, dispatch_uid="sockets-user-groups")
