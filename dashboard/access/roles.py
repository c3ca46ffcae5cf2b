"""Roles as Django groups holding dashboard.Access permissions (see dashboard.access)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("dashboard.view_swarm",),
    "operator": ("dashboard.view_swarm", "dashboard.reveal_env", "dashboard.write_secrets"),
    "admin": (
        "dashboard.view_swarm", "dashboard.reveal_env", "dashboard.write_secrets", "dashboard.manage_tokens",
        "dashboard.view_audit", "dashboard.view_kiosktoken", "dashboard.add_kiosktoken", "dashboard.change_kiosktoken",
        "dashboard.view_auditentry", "dashboard.view_loginfailure", "dashboard.delete_loginfailure",
        "auth.view_user", "auth.add_user", "auth.change_user", "auth.delete_user",
        "auth.view_group",
    ),
}  # fmt: skip


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
