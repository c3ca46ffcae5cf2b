"""Kiosk tokens: a wall screen's read-only key to the grid and the wall, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from dashboard.access.audit import audit
from dashboard.models import KioskToken

TOKEN_PREFIX = "sv_"  # noqa: S105 - a marker, not a secret
KIOSK_PARAM = "kiosk"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, *, created_by: str, remote_addr: str = "") -> tuple[KioskToken, str]:
    """A new token; the clear value is returned once and never stored."""
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = KioskToken.objects.create(
            name=name, token_hash=_digest(clear), prefix=clear[:10], created_by=created_by
        )
        audit(created_by, "token.create", name, remote_addr=remote_addr)
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
    token = KioskToken.objects.filter(token_hash=_digest(clear), revoked_at__isnull=True).first()
    if token is None:
        return None
    token.last_used_at = timezone.now()
    token.last_used_from = remote_addr[:64]
    token.save(update_fields=["last_used_at", "last_used_from"])
    audit(f"kiosk:{token.name}", "token.use", where, remote_addr=remote_addr)
    return token


def token_is_live(token_id: int) -> bool:
    return KioskToken.objects.filter(pk=token_id, revoked_at__isnull=True).exists()


def token_group(token_id: int) -> str:
    """The Channels group of a token's live sockets: revoking it closes them."""
    return f"kiosk-{token_id}"
