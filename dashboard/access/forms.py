"""The login forms, throttled alike (the dashboard's and the Django admin's): a burst of wrong passwords
locks that name from that address a while, in every process at once (dashboard.access.throttle)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from dashboard.access import throttle
from dashboard.access.viewers import remote_addr


class Throttled(AuthenticationForm):
    """Counts wrong passwords per name and resolved address; refuses the sign-in past the allowance."""

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))
        # the resolved client address (dashboard.access.proxies), never X-Forwarded-For's left end
        address = remote_addr(self.request) if self.request else ""
        if throttle.locked(username, address):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            raise ValidationError(
                f"Too many failed sign-ins for this name from your address: try again in {minutes} minute(s).",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            # a wrong password, and also a right one for an inactive user or a non-staff one on /admin/:
            # every refusal counts, or the form would tell a right password from a wrong one for free
            throttle.count_failure(username, address)
            raise
        throttle.forget(username, address)
        return cleaned


class ThrottledAuthenticationForm(Throttled):
    pass


class ThrottledAdminAuthenticationForm(Throttled, AdminAuthenticationForm):
    """/admin/login/: the same throttle, then the admin's own rule (staff only)."""
