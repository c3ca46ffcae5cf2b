"""`manage.py kiosk create NAME [--expires 30d|2027-01-31] | list | revoke NAME`: read-only tokens for wall screens."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dashboard import access
from dashboard.models import KioskToken

_DURATION = re.compile(r"^(?P<n>\d{1,6})(?P<unit>[mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def expiry(text: str) -> datetime:
    """``12h``, ``30d``, ``2w`` from now, or an ISO 8601 date or time (a date: its midnight, in TIME_ZONE)."""
    found = _DURATION.match(text.strip())
    if found:
        return timezone.now() + timedelta(seconds=int(found["n"]) * _UNITS[found["unit"]])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a duration (90m, 12h, 30d, 2w) or an ISO 8601 date or time (2027-01-31, 2027-01-31T18:00)"
        ) from None
    when = when if timezone.is_aware(when) else timezone.make_aware(when)
    if when <= timezone.now():
        raise argparse.ArgumentTypeError(f"{text!r} is in the past")
    return when


class Command(BaseCommand):
    help = "Create, list and revoke kiosk tokens (read-only access to the grid and the wall)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new token; its URL is printed once")
        create.add_argument("name")
        create.add_argument("--base-url", default="http://localhost:8000/", help="where the dashboard is served")
        create.add_argument(
            "--expires",
            type=expiry,
            default=None,
            help="refused from then on: a duration (12h, 30d) or an ISO 8601 date or time (2027-01-31)",
        )
        sub.add_parser("list", help="every token, its last use, whether revoked")
        revoke = sub.add_parser("revoke", help="revoke a token: its screens lose access within seconds")
        revoke.add_argument("name")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            if KioskToken.objects.filter(name=options["name"]).exists():
                raise CommandError(f"a token named {options['name']!r} exists already")
            token, clear = access.create_token(options["name"], created_by="manage.py", expires_at=options["expires"])
            base = options["base_url"].rstrip("/")
            self.stdout.write(f"{base}/?{access.KIOSK_PARAM}={clear}\n{base}/wall/?{access.KIOSK_PARAM}={clear}")
            self.stderr.write(f"kiosk token {token.name!r} created; the URL is shown only now")
        elif action == "list":
            for t in KioskToken.objects.all():
                if t.revoked_at:
                    state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}"
                elif t.expires_at:
                    state = f"{'active' if t.active else 'expired'}, expires {t.expires_at:%Y-%m-%d %H:%M}"
                else:
                    state = "active"
                used = f"{t.last_used_at:%Y-%m-%d %H:%M} from {t.last_used_from}" if t.last_used_at else "never used"
                self.stdout.write(f"{t.name}\t{t.prefix}…\t{state}\t{used}")
        else:
            found = KioskToken.objects.filter(name=options["name"]).first()
            if found is None:
                raise CommandError(f"no token named {options['name']!r}")
            access.revoke_token(found, by="manage.py")
            self.stdout.write(f"revoked {found.name}")
