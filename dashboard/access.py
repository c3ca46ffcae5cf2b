"""Who may see and do what: roles, kiosk tokens, anonymous viewing, and the audit log.

Roles are Django groups holding dashboard.Access permissions:
  viewer    the grid, the wall, task details (env values masked), logs
  operator  also reveals env values and writes secrets
  admin     also manages users and kiosk tokens, reads the audit log (and is staff: the Django admin)
Every active signed-in user may view; the groups add the rest.

A kiosk token opens the grid and the wall and their websocket, read-only, and nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from dashboard.models import AuditEntry, KioskToken

log = logging.getLogger(__name__)

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("dashboard.view_swarm",),
    "operator": ("dashboard.view_swarm", "dashboard.reveal_env", "dashboard.write_secrets"),
    "admin": (
        "dashboard.view_swarm", "dashboard.reveal_env", "dashboard.write_secrets", "dashboard.manage_tokens",
        "dashboard.view_audit", "dashboard.view_kiosktoken", "dashboard.add_kiosktoken", "dashboard.change_kiosktoken",
        "dashboard.view_auditentry", "auth.view_user", "auth.add_user", "auth.change_user", "auth.delete_user",
        "auth.view_group",
    ),
}  # fmt: skip
TOKEN_PREFIX = "sv_"  # noqa: S105 - a marker, not a secret
KIOSK_PARAM = "kiosk"


def ensure_roles(**signal_kwargs: Any) -> None:
    """Create the role groups with their permissions (idempotent; runs after every migrate)."""
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)


def set_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    ensure_roles()
    user.groups.set([Group.objects.get(name=role)])
    user.is_staff = role == "admin"
    user.save()


def role_of(user: Any) -> str:
    if user.is_superuser:
        return "admin"
    names = {g.name for g in user.groups.all()}
    return next((r for r in ("admin", "operator") if r in names), "viewer")


# --- kiosk tokens --------------------------------------------------------------------------------


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


# --- who is looking ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is allowed to look, and as what."""

    name: str  # for the audit log and the header
    user: AbstractBaseUser | AnonymousUser | None
    kiosk: KioskToken | None = None

    @property
    def read_only(self) -> bool:
        return self.kiosk is not None or self.user is None or not self.user.is_authenticated


def viewer_for(user: Any, kiosk_param: str | None, *, remote_addr: str, where: str) -> Viewer | None:
    """The grid and the wall: a signed-in user, a kiosk token, or anonymous when allowed; else None."""
    if user is not None and user.is_authenticated and user.is_active:
        return Viewer(name=user.get_username(), user=user)
    if kiosk_param:
        token = use_token(kiosk_param, remote_addr=remote_addr, where=where)
        if token is not None:
            return Viewer(name=f"kiosk:{token.name}", user=None, kiosk=token)
        return None
    if settings.ANONYMOUS_READ_ONLY:
        return Viewer(name="anonymous", user=None)
    return None


def remote_addr(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))[:64]


def audit(actor: str, action: str, target: str = "", *, remote_addr: str = "", **detail: Any) -> None:
    AuditEntry.objects.create(actor=actor[:150], action=action, target=target[:255], detail=detail,
                              remote_addr=remote_addr[:64])  # fmt: skip
    log.info("audit: %s %s %s from %s", actor, action, target, remote_addr or "-")


def known_user(name: str) -> Any:
    return get_user_model().objects.filter(username=name).first()


def audit_admin_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A Django admin LogEntry, copied into the audit log (who changed which object how)."""
    if not created:
        return
    action = {1: "admin.add", 2: "admin.change", 3: "admin.delete"}.get(instance.action_flag, "admin.other")
    model = instance.content_type.model if instance.content_type_id else ""
    audit(
        instance.user.get_username(), action, f"{model} {instance.object_repr}"[:255],
        change=str(instance.change_message)[:500],
    )  # fmt: skip
