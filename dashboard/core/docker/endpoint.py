"""Where Docker is and how to reach it, the way the docker CLI reads it: DOCKER_HOST,
DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dashboard.core.docker.errors import DaemonUnreachable, TLSProblem

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Docker is and how to reach it."""

    host: str  # unix:///path or tcp://host:port
    tls_verify: bool = False
    cert_path: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Endpoint:
        env = os.environ if environ is None else environ
        host = env.get("DOCKER_HOST") or DEFAULT_SOCKET
        if not host.startswith(("unix://", "tcp://", "https://", "http://")):
            raise DaemonUnreachable(f"DOCKER_HOST={host!r}: expected unix:///path or tcp://host:port")
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        cert_path = env.get("DOCKER_CERT_PATH") or None
        if verify and cert_path is None:
            cert_path = str(Path.home() / ".docker")
        return cls(host=host, tls_verify=verify, cert_path=cert_path)

    @property
    def is_unix(self) -> bool:
        return self.host.startswith("unix://")

    def describe(self) -> str:
        return f"{self.host} (TLS)" if self.tls_verify else self.host


def tls_context(cert_path: str) -> ssl.SSLContext:
    """The docker CLI's layout: ca.pem, cert.pem, key.pem in one folder; every file required."""
    folder = Path(cert_path)
    files = {name: folder / name for name in ("ca.pem", "cert.pem", "key.pem")}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise TLSProblem(
            f"DOCKER_TLS_VERIFY is set but {', '.join(missing)} missing in DOCKER_CERT_PATH={cert_path}: "
            "put the CA, client certificate and key there (as for the docker CLI)"
        )
    try:
        ctx = ssl.create_default_context(cafile=str(files["ca.pem"]))
        ctx.load_cert_chain(str(files["cert.pem"]), str(files["key.pem"]))
    except ssl.SSLError as e:
        raise TLSProblem(f"cannot load the TLS files in {cert_path}: {e.reason or e}") from None
    return ctx
