"""Django settings. Every knob comes from the environment; README.md has the table."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from dashboard.agent.config import token_problem as agent_token_problem
from visualizer.env import env_bool, env_float, env_int, env_list, env_networks, env_optional, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY(_FILE) when given; otherwise one generated once and kept in DATA_DIR."""
    given = env_optional("SECRET_KEY")
    if given is not None:
        if len(given) < 32:
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters")
        return given
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    try:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite a key another process wrote
            f.write(key)
        path.chmod(0o600)
        return key
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ImproperlyConfigured(
            f"no SECRET_KEY given and {path} cannot be written ({e.strerror}); set SECRET_KEY or DATA_DIR"
        ) from None


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dashboard.access.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.access.middleware.TrustedProxyUserMiddleware",
    # every view needs a signed-in user unless it says otherwise (login, /healthz, the kiosk views)
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "visualizer.urls"
ASGI_APPLICATION = "visualizer.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.pages.nav.nav",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_optional("REDIS_URL")
# the keys of this deployment in Redis (the lease, the replicated model, the channel layer's)
REDIS_NAMESPACE = env_str("REDIS_NAMESPACE", "sv")
if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", REDIS_NAMESPACE):
    raise ImproperlyConfigured("REDIS_NAMESPACE: 1 to 64 letters, digits, '.', '-' or '_'")
# channels-redis waits for a socket's next message with a blocking pop of 5 s at a time; redis-py 8
# reads every reply with a 5 s socket timeout by default, so that wait failed on an idle swarm and
# every socket closed with 1011 (channels_redis#422). The read timeout must outlast the pop; it
# still bounds how long a Redis that stopped answering (a half-open connection) goes unnoticed.
REDIS_SOCKET_TIMEOUT = 15.0
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": REDIS_SOCKET_TIMEOUT,
                        "socket_connect_timeout": 5.0,
                        # redis-py's pool raises past its size (100) instead of waiting: a reconnect
                        # storm (every socket joining its groups at once) must not fail for it
                        "max_connections": 2000,
                    }
                ],
                "prefix": f"{REDIS_NAMESPACE}:asgi",
            },
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "build" / "static")))

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12, minimum=1) * 3600
# Secure cookies need HTTPS; behind a TLS-terminating proxy set SECURE_COOKIES=1
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)  # sent on HTTPS responses only
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
LOGIN_FAILURES_ALLOWED = env_int("LOGIN_FAILURES_ALLOWED", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# every password set through a form, `manage.py adduser`, `createsuperuser` (asked) or the first admin
# from the environment (deploy/first_admin.py) must pass these
PASSWORD_MIN_LENGTH = 12
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# opt-in, off by default: the grid and wall (read-only) without signing in
ANONYMOUS_READ_ONLY = env_bool("ANONYMOUS_READ_ONLY", False)
# what read-only screens (kiosk tokens, anonymous viewers) are sent besides what the grid and the
# wall draw: labels (a proxy's basic-auth hash lives in one) and node addresses, off by default
KIOSK_SHOW_LABELS = env_bool("KIOSK_SHOW_LABELS", False)
KIOSK_SHOW_ADDRESSES = env_bool("KIOSK_SHOW_ADDRESSES", False)
# a kiosk URL is exchanged for a session cookie of this lifetime (renewed at every page load, never
# past the token's own expiry)
KIOSK_SESSION_DAYS = env_int("KIOSK_SESSION_DAYS", 90, minimum=1)
# Each distinct wall filter (?stack=, ?service=) in use costs a pass over the tasks and its share of
# every patch: read-only screens may hold this many at once per process; one more is refused (4429).
KIOSK_FILTERS_PER_PROCESS = env_int("KIOSK_FILTERS_PER_PROCESS", 32, minimum=1)
# opt-in, off by default: sign in the user a reverse proxy names in this header, only for
# requests from these addresses/networks
PROXY_USER_HEADER = env_str("PROXY_USER_HEADER", "")
PROXY_USER_TRUSTED = env_networks("PROXY_USER_TRUSTED")
if PROXY_USER_HEADER and not PROXY_USER_TRUSTED:
    raise ImproperlyConfigured("PROXY_USER_HEADER needs PROXY_USER_TRUSTED: the proxy addresses allowed to set it")
# no write call to Docker can be made at all (works behind a socket proxy that only allows GET)
DOCKER_READ_ONLY = env_bool("DOCKER_READ_ONLY", False)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# a secret's value is read in memory only: no upload ever goes to a temporary file
SECRET_MAX_BYTES = 500 * 1024  # Docker's own limit
# The largest request body the server (visualizer.serve) reads: larger ones get a 413 before they are
# buffered. At least twice the largest secret, so that one always fits with its form around it.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 2 * 1024 * 1024, minimum=2 * SECRET_MAX_BYTES)
# a request body must arrive whole this long after its headers, else 408 (visualizer.serve)
REQUEST_BODY_SECONDS = env_float("REQUEST_BODY_SECONDS", 30.0, minimum=1.0)
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
# Django's ASGI handler spools a body above this size to a temporary file, and the memory upload
# handler drops a file from a request above it: no body the server lets through may be larger
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * SECRET_MAX_BYTES
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]


def _secret_patterns(value: list[str]) -> tuple[str, ...]:
    """Keys (labels, flags, KEY=value) whose values are masked: the defaults, replaced, or with
    ``+`` in front extended (``+*vault*,sig``)."""
    from dashboard.core.masking import DEFAULT_PATTERNS, parse_patterns

    if not value:
        return DEFAULT_PATTERNS
    extend = value[0].startswith("+")
    if extend:
        value = [value[0][1:], *value[1:]]
    try:
        patterns = parse_patterns(value)
    except ValueError as e:
        raise ImproperlyConfigured(f"SECRET_PATTERNS: {e}") from None
    return DEFAULT_PATTERNS + patterns if extend else patterns


SECRET_PATTERNS = _secret_patterns(env_list("SECRET_PATTERNS", []))

# The Docker connection: DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI reads
# them (dashboard.core.docker reads them itself); the watcher's timing below.
SWARM_RECONCILE_SECONDS = env_float("SWARM_RECONCILE_SECONDS", 8.0, minimum=0.5)
SWARM_EVENTS_LIVENESS_SECONDS = env_float("SWARM_EVENTS_LIVENESS_SECONDS", 60.0, minimum=1.0)
SWARM_BACKOFF_MAX_SECONDS = env_float("SWARM_BACKOFF_MAX_SECONDS", 10.0, minimum=0.1)
SWARM_FAILED_TASKS_MINUTES = env_int("SWARM_FAILED_TASKS_MINUTES", 15, minimum=0)
CLUSTER_NAME = env_str("CLUSTER_NAME", "swarm")
# Problems first (/problems/, the bar's count, /api/problems): a slot whose tasks failed this many times
# within SWARM_FAILED_TASKS_MINUTES is "failing"; an update still running after this long is "stuck".
PROBLEMS_FAILURES = env_int("PROBLEMS_FAILURES", 3, minimum=1)
PROBLEMS_UPDATE_MINUTES = env_int("PROBLEMS_UPDATE_MINUTES", 30, minimum=1)
PROBLEMS_SHOWN = env_int("PROBLEMS_SHOWN", 200, minimum=1)

# Node agents (`manage.py agent`, one per node) dial in at /ws/agent with this shared token (or the
# content of AGENT_TOKEN_FILE); without one the endpoint refuses every agent.
AGENT_TOKEN = env_optional("AGENT_TOKEN")
if AGENT_TOKEN is not None and (_agent_token_problem := agent_token_problem(AGENT_TOKEN)) is not None:
    raise ImproperlyConfigured(_agent_token_problem)  # the agent's own check: no token one would refuse
AGENT_STATS_EVERY = env_float("AGENT_STATS_EVERY", 5.0, minimum=1.0)
# while every ready node has a live agent, the reconcile of /tasks runs this many times less often
AGENT_RECONCILE_RELAX = env_float("AGENT_RECONCILE_RELAX", 4.0, minimum=1.0)

# The wall screen (/wall/) and the websocket heartbeat that lets a page tell an idle swarm from a
# frozen connection: a socket that asks for it gets a heartbeat after this many quiet seconds.
SWARM_HEARTBEAT_SECONDS = env_float("SWARM_HEARTBEAT_SECONDS", 5.0, minimum=0.5)
WALL_STALE_SECONDS = env_float("WALL_STALE_SECONDS", 15.0, minimum=1.0)
WALL_PAGE_SECONDS = env_float("WALL_PAGE_SECONDS", 15.0, minimum=3.0)
if WALL_STALE_SECONDS < 2 * SWARM_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("WALL_STALE_SECONDS must be at least twice SWARM_HEARTBEAT_SECONDS")

# Websocket budgets (dashboard.live.guard): a client that reads nothing for this long is closed (4408),
# and so is one that sends frames but leaves the server's ping unanswered (daphne pings only silent ones).
WS_SEND_STALL_SECONDS = env_float("WS_SEND_STALL_SECONDS", 30.0, minimum=1.0)
WS_PING_SECONDS = env_float("WS_PING_SECONDS", 20.0, minimum=1.0)
WS_PING_TIMEOUT_SECONDS = env_float("WS_PING_TIMEOUT_SECONDS", 20.0, minimum=1.0)
# Followed task logs: each holds a Docker connection of the swarm's one log client (a pool of 100).
LOG_SOCKETS_PER_USER = env_int("LOG_SOCKETS_PER_USER", 4, minimum=1)
LOG_SOCKETS_PER_PROCESS = env_int("LOG_SOCKETS_PER_PROCESS", 64, minimum=1)
# A service's merged logs (dashboard.live.service_logs) read this many of its newest tasks' streams at most.
SERVICE_LOG_TASKS = env_int("SERVICE_LOG_TASKS", 16, minimum=1)
if LOG_SOCKETS_PER_PROCESS > 90:
    raise ImproperlyConfigured(
        "LOG_SOCKETS_PER_PROCESS must be at most 90: the log client's pool holds 100 connections"
    )

# Task log downloads (dashboard.pages.downloads): daphne holds what a client has not read yet, so a
# download is cut at this many bytes, and only so many run at once.
LOG_DOWNLOAD_MAX_BYTES = env_int("LOG_DOWNLOAD_MAX_BYTES", 32 * 1024 * 1024, minimum=64 * 1024)
LOG_DOWNLOADS_PER_USER = env_int("LOG_DOWNLOADS_PER_USER", 2, minimum=1)
LOG_DOWNLOADS_PER_PROCESS = env_int("LOG_DOWNLOADS_PER_PROCESS", 16, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}


# --- Deployment: URL prefix, reverse proxy, DATABASE_URL (deploy/README.md) ----------------------------


def _url_prefix(raw: str) -> str:
    """``/visualizer`` from ``visualizer``, ``/visualizer/`` or ``/visualizer``; empty for none or ``/``."""
    value = raw.strip().strip("/")
    if not value:
        return ""
    if any(c in value for c in "?#%\\ \t") or {"", ".", ".."} & set(value.split("/")):
        raise ImproperlyConfigured(f"URL_PREFIX={raw!r}: expected a plain path such as /visualizer")
    return f"/{value}"


def _database_from_url(url: str) -> dict[str, object]:
    """Django's DATABASES entry for ``postgres://user:pass@host:port/name?option=value`` or ``sqlite:////path``."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured("DATABASE_URL: the port is not a number") from None
        name = unquote(parts.path.lstrip("/"))
        if not name or not parts.hostname:
            raise ImproperlyConfigured("DATABASE_URL: expected postgres://user:password@host:port/database")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            # a percent-encoded path (postgres://user@%2Frun%2Fpostgresql/db) is a unix socket folder
            "HOST": unquote(parts.hostname),
            "PORT": str(port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            # persistent connections leak under ASGI (every request may run in a new thread)
            "CONN_MAX_AGE": 0,
        }
    if parts.scheme == "sqlite":
        # sqlite:////srv/db.sqlite3: an empty host, then the absolute path
        path = unquote(parts.path)
        if not path.startswith("//") or parts.netloc:
            raise ImproperlyConfigured("DATABASE_URL: expected sqlite:////absolute/path/db.sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path[1:], "OPTIONS": {"timeout": 20}}
    raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (postgres:// or sqlite:///)")


_database_url = env_optional("DATABASE_URL")
if _database_url:
    DATABASES = {"default": _database_from_url(_database_url)}


def _make_data_dir(database: dict[str, object]) -> None:
    """SQLite in DATA_DIR needs the folder before its first connection (else "unable to open database file")."""
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    if Path(os.path.abspath(str(database["NAME"]))).parent != Path(os.path.abspath(DATA_DIR)):
        return
    try:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImproperlyConfigured(
            f"DATA_DIR={DATA_DIR} cannot be created ({e.strerror}): set DATA_DIR to a folder this process can write"
        ) from None


_make_data_dir(DATABASES["default"])

# Behind a reverse proxy on a sub-path: every URL the pages, redirects and cookies carry starts with
# the prefix, whether the proxy strips it before daphne or not (visualizer.asgi accepts both).
URL_PREFIX = _url_prefix(env_str("URL_PREFIX", ""))
if URL_PREFIX:
    FORCE_SCRIPT_NAME = URL_PREFIX
    STATIC_URL = f"{URL_PREFIX}/static/"
    LOGIN_URL = f"{URL_PREFIX}/accounts/login/"
    LOGIN_REDIRECT_URL = f"{URL_PREFIX}/"
    SESSION_COOKIE_PATH = f"{URL_PREFIX}/"
    CSRF_COOKIE_PATH = f"{URL_PREFIX}/"

# The reverse proxies in front (addresses/networks): the client's address is read from X-Forwarded-For
# from the right, past these only (dashboard.access.proxies); none: the header is never read.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# X-Forwarded-Proto and X-Forwarded-Host, read by Django; they reach it only from TRUSTED_PROXIES.
if env_bool("TRUST_PROXY_HEADERS", False):
    if not TRUSTED_PROXIES:
        raise ImproperlyConfigured(
            "TRUST_PROXY_HEADERS needs TRUSTED_PROXIES: the addresses of the proxies whose headers to believe"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
