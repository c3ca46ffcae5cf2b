"""The Django admin: users and roles (Django's own), kiosk tokens, the audit log (read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from dashboard import access
from dashboard.access.forms import ThrottledAdminAuthenticationForm
from dashboard.models import AuditEntry, KioskToken, LoginFailure


class KioskTokenForm(ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = KioskToken
        fields = ("name", "expires_at")

    def clean_expires_at(self) -> datetime | None:
        expires_at: datetime | None = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now() and self.instance.pk is None:
            raise ValidationError("a new token's expiry must be in the future")
        return expires_at


@admin.register(KioskToken)
class KioskTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = KioskTokenForm
    list_display = (
        "name", "prefix", "active", "expires_at", "created_by", "created_at", "last_used_at", "last_used_from",
    )  # fmt: skip
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "last_used_from", "revoked_at")
    fields = ("name", "expires_at", *readonly_fields)
    actions = ["revoke"]

    @admin.display(boolean=True)
    def active(self, obj: KioskToken) -> bool:
        return obj.active

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit log keeps naming it

    def save_model(self, request: HttpRequest, obj: KioskToken, form: ModelForm[Any], change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, clear = access.create_token(
            obj.name,
            created_by=request.user.get_username(),
            remote_addr=access.remote_addr(request),
            expires_at=obj.expires_at,
        )
        obj.pk = token.pk
        url = request.build_absolute_uri(reverse("grid")) + f"?{access.KIOSK_PARAM}={clear}"
        # the screen exchanges it for a session cookie on first use and drops it from its address
        messages.warning(request, f"Kiosk URL for “{token.name}” (shown once, keep it safe): {url}")

    @admin.action(description="Revoke the selected tokens (closes their screens' connections)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[KioskToken]) -> None:
        for token in queryset:
            access.revoke_token(token, by=request.user.get_username(), remote_addr=access.remote_addr(request))
        self.message_user(request, f"{queryset.count()} token(s) revoked")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("at", "actor", "action", "target", "remote_addr")
    list_filter = ("action",)
    search_fields = ("actor", "target")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Wrong-password counts: an admin lifts a lockout by deleting its row (the deletion is audited)."""

    list_display = ("username", "address", "failures", "expires_at")
    search_fields = ("username", "address")
    ordering = ("-expires_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# the admin's sign-in is throttled like the dashboard's: one allowance of wrong passwords per name and address
admin.site.login_form = ThrottledAdminAuthenticationForm
