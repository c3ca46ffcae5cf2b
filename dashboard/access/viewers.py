"""Who is looking: a signed-in user, a kiosk token, or anonymous when allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from dashboard.access.kiosk import use_token, use_token_id
from dashboard.models import KioskToken


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is allowed to look, and as what."""

    name: str  # for the audit log and the header
    user: AbstractBaseUser | AnonymousUser | None
    kiosk: KioskToken | None = None

    @property
    def read_only(self) -> bool:
        return self.kiosk is not None or self.user is None or not self.user.is_authenticated


def viewer_for(
    user: Any, kiosk_param: str | None, *, remote_addr: str, where: str, kiosk_id: object = None
) -> Viewer | None:
    """The grid and the wall: a signed-in user, a kiosk token (``kiosk_param``, its clear value, or
    ``kiosk_id``, the id a session holds since its kiosk URL was exchanged), or anonymous when
    allowed; else None. A token that is named but dead (revoked, expired, unknown) refuses: it
    never falls back to anonymous viewing."""
    if user is not None and user.is_authenticated and user.is_active:
        return Viewer(name=user.get_username(), user=user)
    if kiosk_param or kiosk_id is not None:
        if kiosk_param:
            token = use_token(kiosk_param, remote_addr=remote_addr, where=where)
        else:
            token = use_token_id(kiosk_id, remote_addr=remote_addr, where=where)
        if token is not None:
            return Viewer(name=f"kiosk:{token.name}", user=None, kiosk=token)
        return None
    if settings.ANONYMOUS_READ_ONLY:
        return Viewer(name="anonymous", user=None)
    return None


def remote_addr(request: HttpRequest) -> str:
    """The client's address as dashboard.access.proxies.ClientAddress resolved it (REMOTE_ADDR)."""
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
