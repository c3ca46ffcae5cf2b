"""`manage.py kiosk create NAME | list | revoke NAME`: read-only tokens for wall screens."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import access
from dashboard.models import KioskToken


class Command(BaseCommand):
    help = "Create, list and revoke kiosk tokens (read-only access to the grid and the wall)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new token; its URL is printed once")
        create.add_argument("name")
        create.add_argument("--base-url", default="http://localhost:8000/", help="where the dashboard is served")
        sub.add_parser("list", help="every token, its last use, whether revoked")
        revoke = sub.add_parser("revoke", help="revoke a token: its screens lose access within seconds")
        revoke.add_argument("name")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            if KioskToken.objects.filter(name=options["name"]).exists():
                raise CommandError(f"a token named {options['name']!r} exists already")
            token, clear = access.create_token(options["name"], created_by="manage.py")
            base = options["base_url"].rstrip("/")
            self.stdout.write(f"{base}/?{access.KIOSK_PARAM}={clear}\n{base}/wall/?{access.KIOSK_PARAM}={clear}")
            self.stderr.write(f"kiosk token {token.name!r} created; the URL is shown only now")
        elif action == "list":
            for t in KioskToken.objects.all():
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                used = f"{t.last_used_at:%Y-%m-%d %H:%M} from {t.last_used_from}" if t.last_used_at else "never used"
                self.stdout.write(f"{t.name}\t{t.prefix}…\t{state}\t{used}")
        else:
            found = KioskToken.objects.filter(name=options["name"]).first()
            if found is None:
                raise CommandError(f"no token named {options['name']!r}")
            access.revoke_token(found, by="manage.py")
            self.stdout.write(f"revoked {found.name}")
