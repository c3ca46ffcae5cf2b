"""The login forms, throttled alike (the dashboard's and the Django admin's): a burst of wrong passwords
locks that name from that address a while."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

from dashboard.access.viewers import remote_addr


def _key(username: str, address: str) -> str:
    return f"login-failures:{address}:{username.lower()[:150]}"


class Throttled(AuthenticationForm):
    """Counts wrong passwords per name and resolved address; refuses the sign-in past the allowance."""

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))
        # the resolved client address (dashboard.access.proxies), never X-Forwarded-For's left end
        address = remote_addr(self.request) if self.request else ""
        key = _key(username, address)
        if cache.get(key, 0) >= settings.LOGIN_FAILURES_ALLOWED:
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            raise ValidationError(
                f"Too many failed sign-ins for this name from your address: try again in {minutes} minute(s).",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)
            raise


class ThrottledAuthenticationForm(Throttled):
    pass


class ThrottledAdminAuthenticationForm(Throttled, AdminAuthenticationForm):
    """/admin/login/: the same throttle, then the admin's own rule (staff only)."""
