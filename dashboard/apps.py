from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from dashboard.access import audit_admin_change, ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
        # what admins change in the Django admin (users, roles, tokens) lands in the audit log too
        post_save.connect(audit_admin_change, sender=LogEntry, dispatch_uid="dashboard-audit-admin")
        # signing out, deactivation, a new password or role close the user's websockets
        from dashboard.access.sessions import connect_signals

        connect_signals()
