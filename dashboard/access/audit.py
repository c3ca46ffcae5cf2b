"""The audit log: who did what, when, from where - never a value."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model

from dashboard.models import AuditEntry

log = logging.getLogger(__name__)


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
