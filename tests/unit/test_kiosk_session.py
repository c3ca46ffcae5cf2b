"""A kiosk URL is traded for a session cookie at once, tokens may expire, config data is for operators."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from dashboard import access, runtime
from dashboard.core.domain import Config, Node, Service
from dashboard.core.model import Snapshot, Status
from dashboard.live import swarm_socket
from dashboard.models import AuditEntry, KioskToken

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
PASSWORD = "a-long-password-1234"
BASIC_AUTH = "admin:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
CONFIG_DATA = b"upstream db { server 10.0.0.7:5432; }  # password=hunter2"
NODE = Node("n1", "node-1", "manager", True, "reachable", "ready", "", "10.77.0.5", "active", "27.0", "", 2.0, 2**31,
            (("rack", "r7"),))  # fmt: skip
SERVICE = Service("s1", "shop_web", "shop", "web:1", "replicated", 1, 1, 1, "", "",
                  (("traefik.basicauth.users", BASIC_AUTH),), (), "", "")  # fmt: skip


@pytest.fixture
def model(static_model: Any) -> Any:
    static_model.snapshot = Snapshot.build(
        seq=1,
        status=Status(state="live", since="2026-01-01T00:00:00Z"),
        nodes=[NODE],
        services=[SERVICE],
        tasks=[],
        configs=[Config("cfg1", "nginx_conf", (("owner", "ops"),), "2026-01-01", "2026-01-02")],
    )
    return static_model


def exchange(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 302, response.status_code
    return str(response["Location"])


def test_it_trades_a_kiosk_url_for_a_session_and_drops_the_token_from_the_url(model: Any) -> None:
    _, clear = access.create_token("hall", created_by="root")
    client = Client()
    client.get("/accounts/login/")  # a session the screen had before (or one planted on it)
    planted = client.cookies.get("sessionid")
    clean = exchange(client, f"/wall/?stack=shop&kiosk={clear}&density=counts")
    assert clean == "/wall/?stack=shop&density=counts"
    cookie = client.cookies["sessionid"]
    assert planted is None or cookie.value != planted.value  # a fresh session holds the token
    assert cookie["httponly"] and int(cookie["max-age"]) == 90 * 86400  # KIOSK_SESSION_DAYS
    for path in (clean, "/"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert clear not in page.content.decode()
        assert page["Referrer-Policy"] == "same-origin"
    assert "basicauth" not in client.get("/").content.decode()  # the legend's titles leave labels out


def test_it_sends_a_signed_in_user_to_the_clean_url_as_themself(model: Any) -> None:
    _, clear = access.create_token("hall", created_by="root")
    get_user_model().objects.create_user(username="vera", password=PASSWORD)
    client = Client()
    client.login(username="vera", password=PASSWORD)
    assert exchange(client, f"/?kiosk={clear}") == "/"
    assert access.SESSION_KEY not in client.session
    assert "basicauth" in client.get("/").content.decode()  # a signed-in user's grid is whole


def test_it_refuses_an_expired_token_like_a_revoked_one(model: Any) -> None:
    token, clear = access.create_token("hall", created_by="root", expires_at=timezone.now() + timedelta(hours=1))
    client = Client()
    exchange(client, f"/?kiosk={clear}")
    assert int(client.cookies["sessionid"]["max-age"]) <= 3600  # never past the token's expiry
    assert client.get("/").status_code == 200 and access.token_is_live(token.pk)
    KioskToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert not access.token_is_live(token.pk)
    for response in (client.get("/"), Client().get(f"/wall/?kiosk={clear}&stack=a")):
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert "sv_" not in response["Location"]  # a dead token does not travel on to the login page
    with pytest.raises(ValueError, match="past"):
        access.create_token("late", created_by="root", expires_at=timezone.now() - timedelta(days=1))


def test_it_creates_expiring_tokens_from_the_command_line(model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("kiosk", "create", "lobby", "--expires", "30d")
    expires = KioskToken.objects.get(name="lobby").expires_at
    assert expires is not None and abs(expires - timezone.now() - timedelta(days=30)) < timedelta(minutes=1)
    call_command("kiosk", "create", "hall", "--expires", "2999-01-31")
    call_command("kiosk", "list")
    assert "expires 2999-01-31" in capsys.readouterr().out
    for bad in ("yesterday", "2001-01-01", "30y"):
        with pytest.raises(CommandError):
            call_command("kiosk", "create", f"x-{bad}", "--expires", bad)


def test_it_creates_expiring_tokens_in_the_admin(model: Any) -> None:
    get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    client = Client()
    client.login(username="root", password=PASSWORD)
    later, past = timezone.localtime() + timedelta(days=7), timezone.localtime() - timedelta(days=1)
    answers = {}
    for name, when in (("late", past), ("week", later)):
        form = {"name": name, "expires_at_0": f"{when:%Y-%m-%d}", "expires_at_1": f"{when:%H:%M:%S}"}
        answers[name] = client.post("/admin/dashboard/kiosktoken/add/", form)
    assert "must be in the future" in answers["late"].content.decode()
    assert not KioskToken.objects.filter(name="late").exists()
    assert answers["week"].status_code == 302
    token = KioskToken.objects.get(name="week")
    assert token.expires_at is not None and abs(token.expires_at - later) < timedelta(seconds=1)
    assert AuditEntry.objects.get(action="token.create", target="week").detail["expires_at"]


async def kiosk_socket(cookie: str, query: str = "") -> WebsocketCommunicator:
    from visualizer.asgi import application

    communicator = WebsocketCommunicator(
        application, f"/ws/swarm{query}", headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def test_it_opens_the_socket_from_the_session_and_closes_it_when_the_token_expires(
    model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(swarm_socket, "KIOSK_RECHECK_SECONDS", 0.2)
    token, clear = await database_sync_to_async(access.create_token)("hall", created_by="root")
    client = Client()
    await database_sync_to_async(exchange)(client, f"/?kiosk={clear}")
    communicator = await kiosk_socket(client.cookies["sessionid"].value)
    first = await communicator.receive_from(timeout=5)
    assert json.loads(first)["type"] == "snapshot" and "node-1" in first
    assert "basicauth" not in first and "10.77.0.5" not in first and "r7" not in first
    expired = timezone.now() - timedelta(seconds=1)
    await database_sync_to_async(KioskToken.objects.filter(pk=token.pk).update)(expires_at=expired)
    async with asyncio.timeout(3):
        assert "expired" in await communicator.receive_from()
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_it_refuses_a_filter_no_wall_could_mean(model: Any) -> None:
    _, clear = await database_sync_to_async(access.create_token)("hall", created_by="root")
    client = Client()
    await database_sync_to_async(exchange)(client, f"/?kiosk={clear}")
    communicator = await kiosk_socket(client.cookies["sessionid"].value, "?stack=" + "x" * 300)
    assert "at most 255 characters" in json.loads(await communicator.receive_from(timeout=5))["error"]
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4400}


class FakeClient:
    def __init__(self) -> None:
        self.reads = 0

    async def config_data(self, config_id: str) -> bytes:
        self.reads += 1
        return CONFIG_DATA


def signed_in(role: str) -> Client:
    u = get_user_model().objects.create_user(username=role, password=PASSWORD)
    access.set_role(u, role)
    client = Client()
    client.login(username=role, password=PASSWORD)
    return client


def test_it_shows_config_data_to_operators_only_and_audits_each_look(
    model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeClient()
    monkeypatch.setattr(type(runtime.swarm()), "client", property(lambda self: fake))
    viewer = signed_in("viewer").get("/configs/cfg1/")
    text = viewer.content.decode()
    assert viewer.status_code == 200 and "nginx_conf" in text and "operators only" in text
    assert "hunter2" not in text and "owner" not in text and fake.reads == 0  # not even read from Docker
    assert not AuditEntry.objects.filter(action="config.view").exists()
    operator = signed_in("operator").get("/configs/cfg1/")
    assert operator.status_code == 200 and "hunter2" in operator.content.decode() and fake.reads == 1
    entry = AuditEntry.objects.get(action="config.view")
    assert (entry.actor, entry.target, entry.detail) == ("operator", "nginx_conf", {"id": "cfg1"})
    assert "hunter2" not in json.dumps(list(AuditEntry.objects.values("target", "detail")))


@override_settings(ANONYMOUS_READ_ONLY=True, KIOSK_SHOW_LABELS=True, KIOSK_SHOW_ADDRESSES=True)
async def test_it_sends_labels_and_addresses_to_read_only_screens_when_allowed(model: Any) -> None:
    from visualizer.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/swarm", headers=[ORIGIN])
    assert (await communicator.connect(timeout=5))[0]
    first = await communicator.receive_from(timeout=5)
    assert "basicauth" in first and "10.77.0.5" in first
    await communicator.disconnect()


# --- a session is a kiosk's or a user's, never both ------------------------------------------------


def test_signing_in_on_a_kiosk_screen_gives_a_sign_ins_session_not_the_kiosks(model: Any) -> None:
    _, clear = access.create_token("hall", created_by="root")
    user = get_user_model().objects.create_user(username="vera", password=PASSWORD)
    client = Client()
    exchange(client, f"/?kiosk={clear}")
    signed_in = client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert access.SESSION_KEY not in client.session
    assert int(client.cookies["sessionid"]["max-age"]) == 12 * 3600  # SESSION_HOURS, not 90 days
    assert client.session.get_expiry_age() == 12 * 3600
    user.is_active = False
    user.save()
    # the deactivated user's browser is signed out, not a kiosk screen again
    page = client.get("/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_a_kiosk_link_does_not_touch_a_signed_in_users_session(model: Any) -> None:
    token, clear = access.create_token("hall", created_by="root")
    get_user_model().objects.create_user(username="vera", password=PASSWORD)
    client = Client()
    client.login(username="vera", password=PASSWORD)
    before = client.cookies["sessionid"].value
    assert exchange(client, f"/wall/?kiosk={clear}&stack=shop") == "/wall/?stack=shop"
    assert client.cookies["sessionid"].value == before  # the same session, still vera's
    assert access.SESSION_KEY not in client.session and client.session.get_expiry_age() == 12 * 3600
    token.refresh_from_db()
    assert token.last_used_at is None  # the token was not used
    assert not AuditEntry.objects.filter(action="token.use").exists()


def test_a_kiosk_link_opened_after_a_sign_in_ended_makes_a_kiosk_session_without_the_user(model: Any) -> None:
    _, clear = access.create_token("hall", created_by="root")
    user = get_user_model().objects.create_user(username="vera", password=PASSWORD)
    client = Client()
    client.login(username="vera", password=PASSWORD)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    exchange(client, f"/?kiosk={clear}")
    assert "_auth_user_id" not in client.session and access.SESSION_KEY in client.session
    page = client.get("/")
    assert page.status_code == 200 and "basicauth" not in page.content.decode()  # a kiosk's grid


def test_a_session_that_names_a_user_is_never_read_as_a_kiosks(model: Any) -> None:
    """Sessions from before sign-in dropped the kiosk token may hold both."""
    token, _ = access.create_token("hall", created_by="root")
    user = get_user_model().objects.create_user(username="vera", password=PASSWORD)
    client = Client()
    client.login(username="vera", password=PASSWORD)
    session = client.session
    session[access.SESSION_KEY] = token.pk
    session.save()
    assert client.get("/").status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    page = client.get("/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_the_exchange_keeps_a_signed_out_browsers_other_session_data(model: Any) -> None:
    _, clear = access.create_token("hall", created_by="root")
    client = Client()
    session = client.session
    session["wall_note"] = "kept"
    session.save()
    client.cookies["sessionid"] = str(session.session_key)
    exchange(client, f"/?kiosk={clear}")
    assert client.cookies["sessionid"].value != session.session_key
    assert client.session["wall_note"] == "kept"


# --- why Docker is out of reach: the endpoint for users, a sentence for read-only screens ----------

ENDPOINT_REASON = (
    "TLS handshake with tcp://10.9.8.7:2376 failed (CERTIFICATE_VERIFY_FAILED); check DOCKER_CERT_PATH "
    "holds a client certificate the daemon accepts"
)


@pytest.fixture
def lost(model: Any) -> Any:
    model.snapshot = dataclasses.replace(
        model.snapshot, status=Status(state="error", since="2026-01-01T00:00:00Z", reason=ENDPOINT_REASON, kind="tls")
    )
    return model


async def test_read_only_screens_are_told_docker_is_lost_but_not_where_it_is(lost: Any) -> None:
    _, clear = await database_sync_to_async(access.create_token)("hall", created_by="root")
    kiosk = Client()
    await database_sync_to_async(exchange)(kiosk, f"/?kiosk={clear}")
    page = (await database_sync_to_async(kiosk.get)("/")).content.decode()
    assert "10.9.8.7" not in page and "DOCKER_CERT_PATH" not in page
    assert "TLS connection to Docker fails" in page
    for query in ("", "?stack=shop"):
        communicator = await kiosk_socket(kiosk.cookies["sessionid"].value, query)
        first = json.loads(await communicator.receive_from(timeout=5))
        assert first["status"]["reason"] == "the dashboard's TLS connection to Docker fails"
        assert first["status"]["state"] == "error" and first["status"]["kind"] == "tls"
        await communicator.disconnect()
    user = await database_sync_to_async(signed_in)("viewer")
    assert ENDPOINT_REASON in (await database_sync_to_async(user.get)("/")).content.decode().replace("&#x27;", "'")
    communicator = await kiosk_socket(user.cookies["sessionid"].value)
    assert json.loads(await communicator.receive_from(timeout=5))["status"]["reason"] == ENDPOINT_REASON
    await communicator.disconnect()


def test_a_configs_data_is_never_stored_by_a_cache(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(runtime.swarm()), "client", property(lambda self: FakeClient()))
    for role in ("operator", "viewer"):
        page = signed_in(role).get("/configs/cfg1/")
        assert page.status_code == 200 and "no-store" in page["Cache-Control"], role
