"""Kiosk tokens: a wall screen's read-only key to the grid and the wall, stored hashed, revocable,
optionally expiring.

A kiosk URL (``/?kiosk=sv_…``, ``/wall/?kiosk=sv_…``) is exchanged on first use for the token's
id in a session cookie, and the page redirects to the same URL without the token: later requests,
the page's websocket, proxies' access logs and Referer headers never carry it again.

A session is a kiosk's or a user's, never both: signing in drops the kiosk token and its long
lifetime from the session (``on_logged_in``), or the sign-in would last KIOSK_SESSION_DAYS and turn
back into a kiosk screen once the account is deactivated; and a session that names a user is never
read as a kiosk's (``kiosk_id_of``), whatever it holds.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dashboard.access.audit import audit
from dashboard.models import KioskToken

TOKEN_PREFIX = "sv_"  # noqa: S105 - a marker, not a secret
KIOSK_PARAM = "kiosk"
SESSION_KEY = "kiosk_token_id"  # the session of a screen that exchanged its kiosk URL holds the token's id


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def live_tokens() -> QuerySet[KioskToken]:
    """Tokens neither revoked nor expired."""
    return KioskToken.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), revoked_at=None)


def create_token(
    name: str, *, created_by: str, remote_addr: str = "", expires_at: datetime | None = None
) -> tuple[KioskToken, str]:
    """A new token; the clear value is returned once and never stored."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("the expiry is in the past: a token must be usable when it is made")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = KioskToken.objects.create(
            name=name, token_hash=_digest(clear), prefix=clear[:10], created_by=created_by, expires_at=expires_at
        )
        expiry = {"expires_at": expires_at.isoformat()} if expires_at is not None else {}
        audit(created_by, "token.create", name, remote_addr=remote_addr, **expiry)
    return token, clear


def revoke_token(token: KioskToken, *, by: str, remote_addr: str = "") -> None:
    """Revoke it, and close the sockets it holds open (in this process; with REDIS_URL, in all)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit(by, "token.revoke", token.name, remote_addr=remote_addr)
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(token_group(token.pk), {"type": "kiosk.revoked"})


def use_token(clear: str, *, remote_addr: str, where: str) -> KioskToken | None:
    """The live token this clear value names, its use recorded; None for anything else."""
    if not clear.startswith(TOKEN_PREFIX) or len(clear) > 100:
        return None
    return _used(live_tokens().filter(token_hash=_digest(clear)).first(), remote_addr=remote_addr, where=where)


def use_token_id(token_id: object, *, remote_addr: str, where: str) -> KioskToken | None:
    """The live token a session names by its id, its use recorded; None for anything else."""
    if not isinstance(token_id, int) or isinstance(token_id, bool):
        return None
    return _used(live_tokens().filter(pk=token_id).first(), remote_addr=remote_addr, where=where)


def _used(token: KioskToken | None, *, remote_addr: str, where: str) -> KioskToken | None:
    if token is None:
        return None
    token.last_used_at = timezone.now()
    token.last_used_from = remote_addr[:64]
    token.save(update_fields=["last_used_at", "last_used_from"])
    audit(f"kiosk:{token.name}", "token.use", where, remote_addr=remote_addr)
    return token


def token_is_live(token_id: int) -> bool:
    """Neither revoked nor expired: a socket's recheck closes it once this turns false."""
    return live_tokens().filter(pk=token_id).exists()


def token_group(token_id: int) -> str:
    """The Channels group of a token's live sockets: revoking it closes them."""
    return f"kiosk-{token_id}"


def kiosk_id_of(session: Any) -> object:
    """The kiosk token id a session holds; None in a session that names a user (signed in, or
    signed in once: a deactivated user's session is no kiosk's)."""
    if session is None or session.get(USER_SESSION_KEY) is not None:
        return None
    return session.get(SESSION_KEY)


def on_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """A sign-in in a kiosk screen's browser: the session becomes the user's alone, with a sign-in's
    lifetime (SESSION_HOURS), not the kiosk's. Django's login() gives the session a new key but
    keeps its data."""
    session = getattr(request, "session", None)
    if session is not None:
        session.pop(SESSION_KEY, None)
        session.set_expiry(None)  # also after a dead token's id was dropped, its lifetime kept
