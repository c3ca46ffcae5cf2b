"""Django's password validators guard every place a password is chosen: the password change form,
the Django admin, `manage.py adduser` (the first admin from the environment: tests/deploy/test_entrypoint.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from dashboard import access

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-pass-42"
# too short, too common, all digits, the user's own name
WEAK = ["short-1", "password1234", "874512369874", "alice-pelletier"]


def signed_in(name: str, role: str, **extra: Any) -> tuple[Any, Client]:
    user = get_user_model().objects.create_user(username=name, password=PASSWORD, **extra)
    access.set_role(user, role)
    client = Client()
    client.force_login(user)
    return user, client


@pytest.mark.parametrize("weak", WEAK)
def test_it_refuses_a_weak_new_password_in_the_password_change_form(static_model: Any, weak: str) -> None:
    user, client = signed_in("alice-pelletier", "viewer")
    response = client.post(
        "/accounts/password_change/", {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak}
    )
    assert response.status_code == 200, "the change went through"
    assert b"errorlist" in response.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_it_takes_a_strong_new_password_in_the_password_change_form(static_model: Any) -> None:
    user, client = signed_in("alice", "viewer")
    strong = "quiet-harbour-lantern-71"
    response = client.post(
        "/accounts/password_change/", {"old_password": PASSWORD, "new_password1": strong, "new_password2": strong}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(strong)


@pytest.mark.parametrize("weak", WEAK)
def test_it_refuses_a_weak_password_for_a_user_added_in_the_admin(static_model: Any, weak: str) -> None:
    _, client = signed_in("root", "admin", is_staff=True, is_superuser=True)
    response = client.post(
        "/admin/auth/user/add/",
        {"username": "alice-pelletier", "password1": weak, "password2": weak, "usable_password": "true"},
    )
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not get_user_model().objects.filter(username="alice-pelletier").exists()


def test_it_refuses_a_weak_password_in_the_admins_set_password_form(static_model: Any) -> None:
    _, client = signed_in("root", "admin", is_staff=True, is_superuser=True)
    bob = get_user_model().objects.create_user(username="bob", password=PASSWORD)
    response = client.post(
        f"/admin/auth/user/{bob.pk}/password/",
        {"password1": "short-1", "password2": "short-1", "usable_password": "true"},
    )
    assert response.status_code == 200 and b"errorlist" in response.content
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_it_refuses_a_weak_password_from_the_adduser_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADDUSER_PASSWORD", "short-1")
    with pytest.raises(CommandError, match=r"too short\. It must contain at least 12 characters"):
        call_command("adduser", "carol", "--role", "viewer")
    assert not get_user_model().objects.filter(username="carol").exists()


def test_adduser_takes_names_as_sign_in_does_and_refuses_another_spelling_of_an_existing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sign-in strips names and normalises them to NFKC: so does adduser, and a spelling of an existing
    user's name (full-width letters) is a clear error, not a database IntegrityError."""
    monkeypatch.setenv("ADDUSER_PASSWORD", PASSWORD)
    call_command("adduser", "admin", "--role", "admin")
    with pytest.raises(CommandError, match=r"'\uff41dmin' is the name of the existing user 'admin' once normalised"):
        call_command("adduser", "\uff41dmin", "--role", "viewer")
    call_command("adduser", " \uff44ave ", "--role", "viewer")
    assert sorted(get_user_model().objects.values_list("username", flat=True)) == ["admin", "dave"]
    assert access.role_of(get_user_model().objects.get(username="admin")) == "admin"
    assert Client().login(username="dave", password=PASSWORD)
