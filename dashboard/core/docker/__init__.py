"""The Docker Engine API, the way the dashboard uses it: one transport (endpoint, TLS, version,
errors, bounded and counted requests) and a small module per resource around it, as aiodocker is
built. ``DockerClient`` brings them together; nothing else in the project talks to Docker."""

from dashboard.core.docker.client import DockerClient, check_connection
from dashboard.core.docker.endpoint import DEFAULT_SOCKET, Endpoint, tls_context
from dashboard.core.docker.errors import (
    DaemonUnreachable,
    DockerAPIError,
    DockerProblem,
    LogsUnavailable,
    NotAManager,
    NotInSwarm,
    ReadOnlyRefused,
    StreamStalled,
    TLSProblem,
    VersionMismatch,
)
from dashboard.core.docker.events import Event, parse_event
from dashboard.core.docker.listing import MalformedList, parse_list
from dashboard.core.docker.version import NEWEST_API, OLDEST_API, negotiate

__all__ = [
    "DEFAULT_SOCKET",
    "NEWEST_API",
    "OLDEST_API",
    "DaemonUnreachable",
    "DockerAPIError",
    "DockerClient",
    "DockerProblem",
    "Endpoint",
    "Event",
    "LogsUnavailable",
    "MalformedList",
    "NotAManager",
    "NotInSwarm",
    "ReadOnlyRefused",
    "StreamStalled",
    "TLSProblem",
    "VersionMismatch",
    "check_connection",
    "negotiate",
    "parse_event",
    "parse_list",
    "tls_context",
]
