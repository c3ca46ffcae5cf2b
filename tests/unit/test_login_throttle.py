"""The sign-in throttle's count lives in the database, per name and resolved address, and expires.

Across real processes (two daphnes on one database) it is tested in tests/deploy/test_login_throttle.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from dashboard.access import throttle
from dashboard.models import LoginFailure

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-pass-42"


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("dashboard.access.throttle.timezone.now", c)
    return c


def sign_in(address: str, password: str, login: str = "/accounts/login/") -> Any:
    client = Client(REMOTE_ADDR=address)
    response = client.post(login, {"username": "Target", "password": password})
    return response, "_auth_user_id" in client.session


@override_settings(LOGIN_FAILURES_ALLOWED=3, LOGIN_LOCKOUT_SECONDS=600)
def test_it_counts_in_the_database_and_lets_the_lockout_run_out(static_model: Any, clock: Clock) -> None:
    get_user_model().objects.create_user(username="Target", password=PASSWORD)
    for _ in range(3):
        response, signed_in = sign_in("203.0.113.5", "wrong")
        assert response.status_code == 200 and not signed_in
    row = LoginFailure.objects.get()
    assert (row.address, row.username, row.failures) == ("203.0.113.5", "target", 3)
    response, signed_in = sign_in("203.0.113.5", PASSWORD)
    assert not signed_in and b"Too many failed sign-ins" in response.content
    # the same name from another address has its own allowance
    assert sign_in("203.0.113.6", PASSWORD)[1]
    assert LoginFailure.objects.get(address="203.0.113.5").failures == 3, "another address's sign-in reset the count"
    clock.now += timedelta(seconds=601)
    assert sign_in("203.0.113.5", PASSWORD)[1]
    assert not LoginFailure.objects.filter(address="203.0.113.5").exists(), "a successful sign-in keeps its count"


@override_settings(LOGIN_FAILURES_ALLOWED=3, LOGIN_LOCKOUT_SECONDS=600)
def test_it_shares_one_allowance_between_the_dashboard_and_the_admin_sign_in(static_model: Any) -> None:
    user = get_user_model().objects.create_user(username="Target", password=PASSWORD, is_staff=True)
    assert user.is_staff
    sign_in("203.0.113.5", "wrong", "/accounts/login/")
    sign_in("203.0.113.5", "wrong", "/admin/login/")
    sign_in("203.0.113.5", "wrong", "/accounts/login/")
    response, signed_in = sign_in("203.0.113.5", PASSWORD, "/admin/login/")
    assert not signed_in and b"Too many failed sign-ins" in response.content


@override_settings(LOGIN_LOCKOUT_SECONDS=600)
def test_it_starts_an_expired_count_again_at_one(clock: Clock) -> None:
    for _ in range(4):
        throttle.count_failure("Target", "198.51.100.7")
    clock.now += timedelta(seconds=601)
    throttle.count_failure("target", "198.51.100.7")
    row = LoginFailure.objects.get()
    assert row.failures == 1 and row.expires_at == clock.now + timedelta(seconds=600)


@override_settings(LOGIN_LOCKOUT_SECONDS=60)
def test_it_removes_expired_counts_a_bounded_batch_at_a_time(clock: Clock) -> None:
    expired = clock.now - timedelta(seconds=1)
    LoginFailure.objects.bulk_create(
        LoginFailure(address=f"10.0.{i // 256}.{i % 256}", username="x", failures=1, expires_at=expired)
        for i in range(throttle.CLEAN_BATCH + 50)
    )
    throttle.count_failure("someone", "192.0.2.1")
    assert LoginFailure.objects.filter(expires_at__lte=clock.now).count() == 50
    throttle.count_failure("someone", "192.0.2.1")
    assert list(LoginFailure.objects.values_list("username", "failures")) == [("someone", 2)]


def test_it_keys_on_a_bounded_name_and_address(clock: Clock) -> None:
    throttle.count_failure("A" * 10_000, "x" * 500)
    row = LoginFailure.objects.get()
    assert (len(row.username), len(row.address)) == (150, 64)
    assert row.username == "a" * 150


@override_settings(LOGIN_FAILURES_ALLOWED=2)
def test_an_admin_lifts_a_lockout_in_the_admin_on_the_record(static_model: Any) -> None:
    from dashboard.access import ensure_roles, set_role
    from dashboard.models import AuditEntry

    ensure_roles()
    get_user_model().objects.create_user(username="Target", password=PASSWORD)
    for _ in range(2):
        sign_in("203.0.113.5", "wrong")
    assert not sign_in("203.0.113.5", PASSWORD)[1]
    admin_user = get_user_model().objects.create_user(username="boss", password=PASSWORD)
    set_role(admin_user, "admin")  # a role, not a superuser
    client = Client(REMOTE_ADDR="198.51.100.1")
    client.force_login(admin_user)
    listing = client.get("/admin/dashboard/loginfailure/")
    assert listing.status_code == 200 and b"203.0.113.5" in listing.content
    row = LoginFailure.objects.get()
    deleted = client.post(f"/admin/dashboard/loginfailure/{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert sign_in("203.0.113.5", PASSWORD)[1]
    assert AuditEntry.objects.filter(actor="boss", action="admin.delete", target__contains="target").exists()


@override_settings(LOGIN_FAILURES_ALLOWED=3, LOGIN_LOCKOUT_SECONDS=600)
def test_it_counts_every_spelling_of_a_name_that_signs_in_to_the_same_account(static_model: Any) -> None:
    """Django strips the name and normalises it to NFKC before it looks the account up: a spaced,
    full-width or otherwise spelled name is the same account, and shares its count."""
    get_user_model().objects.create_user(username="admin", password=PASSWORD)
    spellings = [" admin", "\uff41dmin", "\uff21\uff24min", "admin\t"]
    client = Client(REMOTE_ADDR="203.0.113.5")
    # these reach the account: the right password signs in with them ("ADmin" would not, but it is
    # counted with admin's all the same, as every capitalisation is)
    for name in (" admin", "\uff41dmin", "admin\t"):
        assert client.post("/accounts/login/", {"username": name, "password": PASSWORD}).status_code == 302, name
        client.logout()
    for name in spellings[:3]:
        client.post("/accounts/login/", {"username": name, "password": "wrong"})
    assert list(LoginFailure.objects.values_list("username", "failures")) == [("admin", 3)]
    for name in ["admin", *spellings]:
        response = client.post("/accounts/login/", {"username": name, "password": PASSWORD})
        assert b"Too many failed sign-ins" in response.content and "_auth_user_id" not in client.session, name
