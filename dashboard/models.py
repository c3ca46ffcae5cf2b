"""What the dashboard stores: kiosk tokens (hashed), the audit log, and the role permissions.

Nothing here ever holds a secret's value, an env value or a token in clear.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Access(models.Model):
    """No rows: it only carries the permissions that make up the roles (see dashboard.access)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_swarm", "View the grid, the wall, task details with env values masked, and logs"),
            ("reveal_env", "Reveal env values in task details"),
            ("write_secrets", "Create, remove and rotate secrets"),
            ("manage_tokens", "Create and revoke kiosk tokens"),
            ("view_audit", "Read the audit log"),
        ]

    def __str__(self) -> str:
        return "access"


class KioskToken(models.Model):
    """A named, revocable, read-only token for a wall screen. Only its SHA-256 is kept."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="the first characters, to recognise it")
    created_by = models.CharField(max_length=150, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_from = models.CharField(max_length=64, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="refused from then on like a revoked token; empty: never"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class AuditEntry(models.Model):
    """Who did what, when, from where. Values of secrets and env vars are never written here."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)  # a user name, or "kiosk:<name>"
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"


class LoginFailure(models.Model):
    """Wrong passwords for one name from one (resolved) address, counted in the database so that every
    process serving the dashboard shares the count (dashboard.access.throttle)."""

    address = models.CharField(max_length=64)
    username = models.CharField(max_length=150)  # lower-cased
    failures = models.PositiveIntegerField(default=0)
    # the count holds until then; each counted failure moves it LOGIN_LOCKOUT_SECONDS ahead
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["address", "username"], name="login_failure_per_address_name")]

    def __str__(self) -> str:
        return f"{self.username} from {self.address}: {self.failures}"
