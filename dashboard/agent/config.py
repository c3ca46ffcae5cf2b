"""The agent's settings, from the environment (README.md has the table); junk is refused with a
clear one-line error. DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are read as the dashboard
reads them (dashboard.core.docker.Endpoint)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from dashboard.agent.messages import AGENT_PATH
from visualizer.env import env_float, env_optional

MIN_STATS_EVERY = 1.0  # seconds; the dashboard's welcome may ask for another period
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 4096


class AgentSettingsError(ValueError):
    """A missing or invalid setting; ``str()`` names the variable and what is expected."""


@dataclass(frozen=True, slots=True)
class AgentSettings:
    dashboard_url: str  # ws:// or wss://, ending in AGENT_PATH
    token: str = field(repr=False)  # never in a repr, a log line or an error
    stats_every: float = 5.0
    ca_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """For wss://: the system's CAs, or only AGENT_CA_FILE's when it is given."""
        if not self.dashboard_url.startswith("wss://"):
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise AgentSettingsError(
                f"AGENT_CA_FILE={self.ca_file}: cannot load it as PEM certificates ({e})"
            ) from None

    def describe(self) -> str:
        return self.dashboard_url


def dashboard_url(raw: str) -> str:
    """``ws://dashboard:8000`` -> ``ws://dashboard:8000/ws/agent``; a path (a URL_PREFIX such as
    ``wss://host/visualizer``) gets ``/ws/agent`` after it unless it already ends with it."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("ws", "wss"):
        raise AgentSettingsError(f"AGENT_DASHBOARD_URL={raw!r}: expected ws://host:port or wss://host")
    if not parts.hostname:
        raise AgentSettingsError(f"AGENT_DASHBOARD_URL={raw!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise AgentSettingsError("AGENT_DASHBOARD_URL: no user or password in the URL: the token goes in AGENT_TOKEN")
    if parts.query or parts.fragment:
        raise AgentSettingsError(f"AGENT_DASHBOARD_URL={raw!r}: no query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise AgentSettingsError(f"AGENT_DASHBOARD_URL={raw!r}: the port is not a number") from None
    path = parts.path.rstrip("/")
    if not path.endswith(AGENT_PATH):
        path += AGENT_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def token_problem(token: str) -> str | None:
    """What is wrong with an agent token, the same for the agent and the dashboard (which must not
    accept a token no agent would send); None when nothing is."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"AGENT_TOKEN: at least {MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 32)"
    if len(token) > MAX_TOKEN_CHARS or not all("!" <= c <= "~" for c in token):
        # it travels in an HTTP header: spaces, control characters or non-ASCII would break or split it
        return f"AGENT_TOKEN: expected up to {MAX_TOKEN_CHARS} printable ASCII characters without spaces"
    return None


def _token() -> str:
    token = env_optional("AGENT_TOKEN")
    if token is None:
        raise AgentSettingsError("set AGENT_TOKEN or AGENT_TOKEN_FILE (the token the dashboard expects from agents)")
    problem = token_problem(token)
    if problem is not None:
        raise AgentSettingsError(problem)
    return token


def load() -> AgentSettings:
    """The agent's settings from the environment; AgentSettingsError says what is wrong."""
    try:
        raw_url = env_optional("AGENT_DASHBOARD_URL")
        if raw_url is None:
            raise AgentSettingsError("set AGENT_DASHBOARD_URL to the dashboard's ws:// or wss:// address")
        settings = AgentSettings(
            dashboard_url=dashboard_url(raw_url),
            token=_token(),
            stats_every=env_float("AGENT_STATS_EVERY", 5.0, minimum=MIN_STATS_EVERY),
            ca_file=env_optional("AGENT_CA_FILE"),
        )
    except ImproperlyConfigured as e:
        raise AgentSettingsError(str(e)) from None
    if settings.ca_file is not None and not settings.dashboard_url.startswith("wss://"):
        raise AgentSettingsError("AGENT_CA_FILE is for wss:// only: AGENT_DASHBOARD_URL is ws://")
    settings.ssl_context()  # a CA file that cannot load is refused at start, not at the first connect
    return settings
