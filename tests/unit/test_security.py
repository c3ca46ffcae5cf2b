"""Security by default: every route refuses strangers, roles hold, kiosk tokens stay in their lane."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from dashboard import access
from dashboard.access.accesslog import scrub
from dashboard.core.docker import DockerClient, Endpoint, ReadOnlyRefused
from dashboard.live.routing import websocket_urlpatterns
from dashboard.models import AuditEntry, KioskToken

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = {"/accounts/login/", "/accounts/logout/", "/healthz", "/livez", "/admin/login/", "/admin/logout/"}
PASSWORD = "a-long-enough-pass-42"


def concrete_paths(patterns: list[Any] | None = None, prefix: str = "") -> list[str]:
    """Every route in the URLconf, with sample values for its parameters."""
    samples = {"int": "1", "str": "x", "slug": "x", "uuid": str(uuid.uuid4()), "path": "x/y"}
    paths = []
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(p.pattern)
        route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples.get(m.group(1) or "str", "x"), route)
        route = route.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
        if "(?P<" in route:  # admin's regex routes
            route = re.sub(r"\(\?P<\w+>[^)]*\)", "x", route)
        if isinstance(p, URLResolver):
            paths += concrete_paths(p.url_patterns, prefix + route)
        elif isinstance(p, URLPattern):
            paths.append("/" + prefix + route)
    return sorted(set(paths))


def user(name: str, role: str) -> Any:
    u = get_user_model().objects.create_user(username=name, password=PASSWORD)
    access.set_role(u, role)
    return u


def refused(response: Any) -> bool:
    if response.status_code in (301, 302):
        return "login" in response["Location"]
    return response.status_code in (401, 403, 405)


def test_it_refuses_strangers_on_every_route_but_the_public_few(static_model: Any) -> None:
    paths = concrete_paths()
    assert "/" in paths and "/api/snapshot" in paths and "/admin/" in paths  # the walk sees the app's routes
    client = Client()
    let_through = []
    for path in paths:
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            if not refused(response) and path not in PUBLIC:
                let_through.append(f"{method.upper()} {path} -> {response.status_code}")
    assert let_through == []


async def test_it_refuses_strangers_on_every_websocket(static_model: Any) -> None:
    from visualizer.asgi import application

    assert websocket_urlpatterns
    for pattern in websocket_urlpatterns:
        communicator = WebsocketCommunicator(
            application, "/" + str(pattern.pattern), headers=[(b"origin", b"http://localhost")]
        )
        # accepted only to say why and close: a refused handshake would reach a page as 1006
        assert (await communicator.connect(timeout=5))[0]
        error = json.loads(await communicator.receive_from(timeout=5))
        assert error["type"] == "error" and "sign in" in error["error"]
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
        assert await communicator.receive_nothing(timeout=0.2)  # nothing of the swarm came


@pytest.mark.parametrize(
    ("role", "perms"),
    [
        ("viewer", {"view_swarm"}),
        ("operator", {"view_swarm", "reveal_env", "write_secrets"}),
        ("admin", {"view_swarm", "reveal_env", "write_secrets", "manage_tokens", "view_audit"}),
    ],
)
def test_it_gives_each_role_its_permissions_and_no_more(role: str, perms: set[str], static_model: Any) -> None:
    u = user(f"u-{role}", role)
    all_perms = {"view_swarm", "reveal_env", "write_secrets", "manage_tokens", "view_audit"}
    u = get_user_model().objects.get(pk=u.pk)  # fresh: permissions are cached per instance
    assert {p for p in all_perms if u.has_perm(f"dashboard.{p}")} == perms
    client = Client()
    client.force_login(u)
    assert client.get("/").status_code == 200
    admin_page = client.get("/admin/dashboard/kiosktoken/")
    assert (admin_page.status_code == 200) is (role == "admin")


def test_it_creates_users_with_a_role_from_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADDUSER_PASSWORD", PASSWORD)
    call_command("adduser", "ops", "--role", "operator")
    ops = get_user_model().objects.get(username="ops")
    assert access.role_of(ops) == "operator" and ops.check_password(PASSWORD)
    call_command("adduser", "ops", "--role", "admin")
    ops.refresh_from_db()
    assert access.role_of(ops) == "admin" and ops.is_staff


def test_it_refuses_writes_without_a_csrf_token(static_model: Any) -> None:
    admin = user("root", "admin")
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "root", "password": PASSWORD}).status_code == 403
    client.force_login(admin)
    assert client.post("/accounts/logout/").status_code == 403
    assert client.post("/admin/dashboard/kiosktoken/add/", {"name": "x"}).status_code == 403
    assert not KioskToken.objects.exists()


def test_it_sends_the_csp_and_security_headers_on_every_page(static_model: Any) -> None:
    client = Client()
    client.force_login(user("root", "admin"))
    pages = [p for p in concrete_paths() if "x" not in p.split("/") and "1" not in p.split("/")]
    for path in [*pages, "/no-such-page"]:
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers.get("Referrer-Policy") == "same-origin", path
        assert response.headers.get("X-Frame-Options") == "DENY", path


def test_it_sends_hsts_and_secure_cookies_over_https(static_model: Any) -> None:
    with override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True):
        client = Client()
        response = client.get("/accounts/login/", secure=True)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert response.cookies["csrftoken"]["secure"]
        assert "Strict-Transport-Security" not in Client().get("/accounts/login/").headers


@pytest.mark.parametrize("login", ["/accounts/login/", "/admin/login/"])
def test_it_locks_out_a_name_after_repeated_wrong_passwords(static_model: Any, login: str) -> None:
    cache.clear()
    target = user("target", "admin")
    target.is_staff = True
    target.save()
    client = Client()
    for _ in range(5):
        assert client.post(login, {"username": "target", "password": "wrong"}).status_code == 200
    locked = client.post(login, {"username": "target", "password": PASSWORD})
    assert locked.status_code == 200 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    cache.clear()


def test_it_stores_kiosk_tokens_hashed_and_opens_only_the_grid_with_them(static_model: Any) -> None:
    token, clear = access.create_token("lobby", created_by="root")
    assert clear not in str(list(KioskToken.objects.values()))
    client = Client()
    exchanged = client.get(f"/?kiosk={clear}")  # for a session cookie, then the same URL without it
    assert (exchanged.status_code, exchanged["Location"]) == (302, "/")
    assert client.get("/").status_code == 200
    for path in ("/api/snapshot", "/api/metrics", "/admin/", "/accounts/password_change/"):
        assert refused(client.get(f"{path}?kiosk={clear}")), path
        assert refused(client.get(path)), path  # the session opens the grid and the wall only
    assert refused(client.get("/?kiosk=sv_not-a-token"))
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_from == "127.0.0.1"
    assert list(AuditEntry.objects.filter(target="lobby").values_list("action", flat=True)) == ["token.create"]
    assert AuditEntry.objects.filter(actor="kiosk:lobby", action="token.use").exists()
    access.revoke_token(token, by="root")
    assert refused(client.get(f"/?kiosk={clear}"))
    assert refused(client.get("/"))
    assert AuditEntry.objects.filter(action="token.revoke", target="lobby", actor="root").exists()


async def test_it_closes_a_kiosk_socket_within_seconds_of_revoking_its_token(static_model: Any) -> None:
    from visualizer.asgi import application

    token, clear = await database_sync_to_async(access.create_token)("hall", created_by="root")
    communicator = WebsocketCommunicator(
        application, f"/ws/swarm?kiosk={clear}", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert '"type":"snapshot"' in await communicator.receive_from(timeout=5)
    await database_sync_to_async(access.revoke_token)(token, by="root")
    async with asyncio.timeout(3):
        assert "revoked" in await communicator.receive_from()
        closed = await communicator.receive_output()
    assert closed == {"type": "websocket.close", "code": 4403}


def test_it_lets_anonymous_viewers_in_only_when_asked_to(static_model: Any) -> None:
    assert refused(Client().get("/"))
    with override_settings(ANONYMOUS_READ_ONLY=True):
        assert Client().get("/").status_code == 200
        assert refused(Client().get("/api/snapshot"))


def test_it_trusts_a_proxy_user_header_only_from_the_allowed_proxy(static_model: Any) -> None:
    with override_settings(PROXY_USER_HEADER="X-Forwarded-User", PROXY_USER_TRUSTED=["10.9.8.7/32"]):
        assert refused(Client(REMOTE_ADDR="10.9.8.6").get("/", HTTP_X_FORWARDED_USER="mallory"))
        assert not get_user_model().objects.filter(username="mallory").exists()
        response = Client(REMOTE_ADDR="10.9.8.7").get("/", HTTP_X_FORWARDED_USER="alice")
        assert response.status_code == 200
        alice = get_user_model().objects.get(username="alice")
        assert access.role_of(alice) == "viewer" and not alice.has_usable_password()


def test_it_never_logs_a_token_or_a_password(static_model: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user("someone", "viewer")
    Client().post("/accounts/login/", {"username": "someone", "password": PASSWORD})
    Client().post("/accounts/login/", {"username": "someone", "password": "wrong-" + PASSWORD})
    token, clear = access.create_token("screen", created_by="root")
    Client().get(f"/?kiosk={clear}")
    access.revoke_token(token, by="root")
    assert "token.create" in caplog.text  # the audit does log, just not the values
    assert clear not in caplog.text and PASSWORD not in caplog.text
    assert clear not in str(list(AuditEntry.objects.values()))
    assert scrub(f"density=compact&kiosk={clear}&page=2") == "density=compact&kiosk=…&page=2"
    assert scrub(f"next=/wall/%3Fkiosk%3D{clear}%26page%3D2") == "next=/wall/%3Fkiosk%3D…%26page%3D2"


async def test_it_refuses_every_write_to_docker_when_read_only() -> None:
    client = DockerClient(Endpoint(host="unix:///nonexistent"), read_only=True)
    with pytest.raises(ReadOnlyRefused, match="DOCKER_READ_ONLY"):
        await client._write("POST", "secrets/create", body={"Name": "x"})
    assert sum(client.requests.values()) == 0


def test_it_audits_what_admins_change_in_the_django_admin(static_model: Any) -> None:
    admin = user("root", "admin")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/auth/user/add/",
        {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:500]
    entry = AuditEntry.objects.get(action="admin.add")
    assert (entry.actor, entry.target) == ("root", "user newbie")
    assert PASSWORD not in str(entry.detail)
