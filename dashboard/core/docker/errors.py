"""Every failure of a Docker request, as one of a few errors a person can act on; ``str()`` says what
happened and what to do. aiodocker and aiohttp hide the real cause in ``__context__``: ``explain``
digs it out."""

from __future__ import annotations

import errno
import ssl
from typing import TYPE_CHECKING

import aiodocker
import aiohttp

if TYPE_CHECKING:
    from dashboard.core.docker.endpoint import Endpoint


class DockerProblem(Exception):
    """Base of every error this module raises; ``str()`` says what happened and what to do."""

    kind = "error"


class DaemonUnreachable(DockerProblem):
    kind = "unreachable"


class StreamStalled(DaemonUnreachable):
    """The connection is open but nothing moves on it (a frozen proxy, a half-open TCP connection)."""

    kind = "stalled"


class TLSProblem(DockerProblem):
    kind = "tls"


class NotInSwarm(DockerProblem):
    kind = "not_in_swarm"


class NotAManager(DockerProblem):
    kind = "worker"


class ReadOnlyRefused(DockerProblem):
    """A write to Docker while the dashboard runs read-only (DOCKER_READ_ONLY=1)."""

    kind = "read_only"


class VersionMismatch(DockerProblem):
    """The daemon and this client share no Engine API version."""

    kind = "version"


class LogsUnavailable(DockerProblem):
    kind = "logs_unavailable"


class DockerAPIError(DockerProblem):
    kind = "api"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Docker answered {status}: {message}")
        self.status = status


def explain(exc: BaseException, endpoint: Endpoint) -> DockerProblem:
    """Map aiodocker/aiohttp failures to one of our errors (the cause hides in __context__)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
            return TLSProblem(
                f"the Docker daemon at {endpoint.describe()} presented a certificate that the CA in "
                f"DOCKER_CERT_PATH does not trust ({short(cause)})"
            )
        if isinstance(cause, aiohttp.ClientSSLError | ssl.SSLError):
            return TLSProblem(
                f"TLS handshake with {endpoint.describe()} failed ({short(cause)}); check DOCKER_CERT_PATH "
                "holds a client certificate the daemon accepts"
            )
        reset = isinstance(cause, ConnectionResetError | aiohttp.ServerDisconnectedError) or (
            isinstance(cause, aiohttp.ClientOSError) and cause.errno == errno.ECONNRESET
        )
        if reset and endpoint.tls_verify:
            # with TLS 1.3 the daemon refuses a client certificate after the handshake: a reset
            return TLSProblem(
                f"{endpoint.describe()} closed the TLS connection ({short(cause)}); check DOCKER_CERT_PATH "
                "holds a client certificate the daemon accepts"
            )
        if isinstance(cause, aiohttp.ServerDisconnectedError) and endpoint.host.startswith("tcp://"):
            if not endpoint.tls_verify:
                return TLSProblem(
                    f"{endpoint.host} closed the connection: it may require TLS (set DOCKER_TLS_VERIFY=1 "
                    "and DOCKER_CERT_PATH)"
                )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, aiodocker.DockerError) and exc.status != 900:
        return DockerAPIError(exc.status, str(exc.message))
    where = endpoint.describe()
    hint = (
        "is dockerd running and may this user open the socket (root or the docker group)?"
        if endpoint.is_unix
        else "is the daemon listening there and reachable from here?"
    )
    return DaemonUnreachable(f"cannot reach Docker at {where}: {short(exc)}; {hint}")


def short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."
