"""Wrong passwords per name and resolved address, counted in the database.

The count lives in the database every process shares (SQLite file or Postgres), not in a process's
memory: two replicas, or the several processes of a Redis scale-out, each allowing their own five
tries would multiply the allowance. Every change is one UPDATE, so failures that arrive at the same
time in different processes are all counted.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, F, Value, When
from django.utils import timezone

from dashboard.models import LoginFailure

# rows of expired counts removed per counted failure: the table stays as small as the live counts
# plus what the last failures have not cleaned yet, and no failure pays for a large clean-up
CLEAN_BATCH = 100


def account_name(username: str) -> str:
    """The name as sign-in sees it, folded: the form strips it and normalises it to NFKC (UsernameField)
    before the backend looks it up, so " admin", "\uff41dmin" and "\uff21\uff24min" all try the account
    admin, and count as that name (case folded as well: one count however the name is capitalised)."""
    folded = unicodedata.normalize("NFKC", username.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)  # casefold can leave a string that NFKC changes again


def _key(username: str, address: str) -> dict[str, str]:
    return {"address": address[:64], "username": account_name(username)[:150]}


def locked(username: str, address: str) -> bool:
    """Whether this name from this address has used up its allowance of wrong passwords."""
    return LoginFailure.objects.filter(
        **_key(username, address), expires_at__gt=timezone.now(), failures__gte=settings.LOGIN_FAILURES_ALLOWED
    ).exists()


def count_failure(username: str, address: str) -> None:
    """One more wrong password: a live count goes up by one, an expired one starts again at one."""
    now = timezone.now()
    key = _key(username, address)
    LoginFailure.objects.get_or_create(**key, defaults={"failures": 0, "expires_at": now})
    # one statement: the database applies concurrent increments one after the other, none is lost
    LoginFailure.objects.filter(**key).update(
        failures=Case(When(expires_at__gt=now, then=F("failures") + 1), default=Value(1)),
        expires_at=now + timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS),
    )
    _clean(now)


def forget(username: str, address: str) -> None:
    """A successful sign-in clears this name's count from this address (and no other)."""
    LoginFailure.objects.filter(**_key(username, address)).delete()


def _clean(now: datetime) -> None:
    stale = list(LoginFailure.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[:CLEAN_BATCH])
    if stale:
        LoginFailure.objects.filter(pk__in=stale, expires_at__lte=now).delete()
