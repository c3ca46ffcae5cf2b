"""Which Engine API version to speak, chosen as the docker CLI chooses it (docs/engine-api.md)."""

from __future__ import annotations

import re
from typing import Any

from dashboard.core.docker.errors import VersionMismatch
from dashboard.core.domain import JSON

# The Engine API versions whose shapes this client was verified against (docs/engine-api.md):
# 1.41 is Docker 20.10, 1.52 is Docker 29. A daemon is spoken to in the highest version both know.
OLDEST_API = (1, 41)
NEWEST_API = (1, 52)
_API_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})")


def _api_tuple(raw: Any) -> tuple[int, int] | None:
    match = _API_VERSION.fullmatch(raw) if isinstance(raw, str) else None
    return (int(match[1]), int(match[2])) if match else None


def api_str(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def negotiate(version_doc: JSON, where: str) -> str:
    """The API version to speak, from an unversioned ``GET /version``, as the docker CLI chooses it:
    the daemon's own version, capped at the newest one whose shapes we know, never below the
    daemon's minimum. Raises VersionMismatch, naming both sides, when there is no such version."""
    engine = _str(version_doc.get("Version")) or "unknown"
    daemon = _api_tuple(version_doc.get("ApiVersion"))
    if daemon is None:
        raise VersionMismatch(
            f"the Docker daemon at {where} did not say which API version it serves (GET /version has no ApiVersion)"
        )
    minimum = _api_tuple(version_doc.get("MinAPIVersion")) or (1, 12)
    chosen = min(daemon, NEWEST_API)
    if chosen < OLDEST_API:
        raise VersionMismatch(
            f"the Docker daemon at {where} (Engine {engine}) serves API {api_str(daemon)}; this dashboard needs "
            f"API {api_str(OLDEST_API)} or newer (Docker 20.10 or later): upgrade Docker"
        )
    if chosen < minimum:
        raise VersionMismatch(
            f"the Docker daemon at {where} (Engine {engine}) requires API {api_str(minimum)} or newer; this "
            f"dashboard speaks API {api_str(OLDEST_API)} to {api_str(NEWEST_API)}: upgrade the dashboard"
        )
    return api_str(chosen)


def _str(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""
