"""The deployment settings: URL_PREFIX, DATABASE_URL, TRUST_PROXY_HEADERS, and the prefix in the ASGI app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from visualizer.asgi import UnderPrefix
from visualizer.settings import _database_from_url, _url_prefix

ROOT = Path(__file__).resolve().parents[2]

_SHOW = """
import json
from django.conf import settings
# no django.setup(): that would load the PostgreSQL driver, which is optional
print(json.dumps({name: str(getattr(settings, name, None)) for name in (
    "URL_PREFIX", "FORCE_SCRIPT_NAME", "STATIC_URL", "LOGIN_URL", "LOGIN_REDIRECT_URL", "SESSION_COOKIE_PATH",
    "CSRF_COOKIE_PATH", "SECURE_PROXY_SSL_HEADER", "USE_X_FORWARDED_HOST")} | {"DB": settings.DATABASES["default"]},
    default=str))
"""


def settings_with(tmp_path: Path, **env: str) -> dict[str, Any]:
    """The settings a fresh process builds from this environment."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("URL_PREFIX", "DATABASE_URL", "TRUST_PROXY_HEADERS", "TRUSTED_PROXIES")
    }
    proc = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**clean, "DJANGO_SETTINGS_MODULE": "visualizer.settings", "DATA_DIR": str(tmp_path), **env},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return dict(json.loads(proc.stdout))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ""), ("/", ""), ("visualizer", "/visualizer"), ("/visualizer/", "/visualizer"), ("/a/b", "/a/b")],
)
def test_it_normalizes_the_url_prefix(raw: str, expected: str) -> None:
    assert _url_prefix(raw) == expected


@pytest.mark.parametrize("raw", ["/a b", "/a?x=1", "/a#b", "/a//b", "/a/../b", "/./a", "/%2e"])
def test_it_refuses_a_url_prefix_that_is_not_a_plain_path(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="URL_PREFIX"):
        _url_prefix(raw)


def test_it_moves_every_url_under_the_prefix(tmp_path: Path) -> None:
    s = settings_with(tmp_path, URL_PREFIX="/visualizer/")
    assert s["URL_PREFIX"] == s["FORCE_SCRIPT_NAME"] == "/visualizer"
    assert s["STATIC_URL"] == "/visualizer/static/"
    assert s["LOGIN_URL"] == "/visualizer/accounts/login/"
    assert s["LOGIN_REDIRECT_URL"] == s["SESSION_COOKIE_PATH"] == s["CSRF_COOKIE_PATH"] == "/visualizer/"


def test_it_keeps_the_root_without_a_prefix(tmp_path: Path) -> None:
    s = settings_with(tmp_path)
    assert (s["URL_PREFIX"], s["FORCE_SCRIPT_NAME"], s["STATIC_URL"]) == ("", "None", "/static/")
    assert s["DB"]["ENGINE"] == "django.db.backends.sqlite3"
    assert s["DB"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert (s["SECURE_PROXY_SSL_HEADER"], s["USE_X_FORWARDED_HOST"]) == ("None", "False")


def test_it_trusts_forwarded_headers_only_when_told(tmp_path: Path) -> None:
    s = settings_with(tmp_path, TRUST_PROXY_HEADERS="1", TRUSTED_PROXIES="10.0.0.5")
    assert s["SECURE_PROXY_SSL_HEADER"] == str(("HTTP_X_FORWARDED_PROTO", "https"))
    assert s["USE_X_FORWARDED_HOST"] == "True"


def test_it_refuses_forwarded_headers_without_the_proxies_that_may_send_them(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TRUST_PROXY_HEADERS needs TRUSTED_PROXIES"):
        settings_with(tmp_path, TRUST_PROXY_HEADERS="1")
    with pytest.raises(RuntimeError, match=r"TRUSTED_PROXIES: 'proxy\.example'"):
        settings_with(tmp_path, TRUSTED_PROXIES="10.0.0.5,proxy.example")


def test_it_reads_postgres_from_database_url(tmp_path: Path) -> None:
    db = settings_with(
        tmp_path, DATABASE_URL="postgres://viz:p%40ss%3Aw0rd@db.internal:5433/visualizer?sslmode=require"
    )["DB"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "visualizer", "viz", "p@ss:w0rd", "db.internal", "5433",
    )  # fmt: skip
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_it_reads_database_url_from_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://viz:secret@db/visualizer\n")
    db = settings_with(tmp_path, DATABASE_URL_FILE=str(secret))["DB"]
    assert (db["HOST"], db["PORT"], db["PASSWORD"]) == ("db", "", "secret")


def test_it_takes_a_socket_folder_as_the_postgres_host() -> None:
    assert _database_from_url("postgres://viz@%2Frun%2Fpostgresql/visualizer")["HOST"] == "/run/postgresql"


def test_it_reads_sqlite_from_database_url() -> None:
    db = _database_from_url("sqlite:////srv/visualizer/db.sqlite3")
    assert (db["ENGINE"], db["NAME"]) == ("django.db.backends.sqlite3", "/srv/visualizer/db.sqlite3")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:p@h/db",
        "postgres://u:p@h:port/db",
        "postgres://u:p@h:5432/",
        "postgres:///db",
        "sqlite://relative.db",
    ],
)
def test_it_refuses_a_database_url_it_cannot_use(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        _database_from_url(url)


def test_it_names_the_setting_when_database_url_is_junk(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="DATABASE_URL: unsupported scheme"):
        settings_with(tmp_path, DATABASE_URL="redis://localhost/0")


async def _seen(prefix: str, path: str, kind: str = "http") -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {"type": kind, "path": path, "raw_path": path.encode(), "root_path": ""}
    await UnderPrefix(app, prefix)(scope, None, None)
    return seen


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/visualizer/ws/swarm", "/visualizer/ws/swarm"),  # the proxy passed the prefix on
        ("/ws/swarm", "/visualizer/ws/swarm"),  # the proxy stripped it
        ("/visualizer", "/visualizer/"),
        ("/", "/visualizer/"),
        ("/visualizerx/a", "/visualizer/visualizerx/a"),  # a lookalike is not the prefix
    ],
)
async def test_it_routes_the_same_whether_the_proxy_strips_the_prefix_or_not(path: str, expected: str) -> None:
    for kind in ("http", "websocket"):
        scope = await _seen("/visualizer", path, kind)
        assert (scope["path"], scope["root_path"]) == (expected, "/visualizer")
        assert "raw_path" not in scope


async def test_it_leaves_other_scopes_alone() -> None:
    scope = await _seen("/visualizer", "/x", "lifespan")
    assert scope["path"] == "/x"
