"""`manage.py checkdocker` (what `./sv run` calls first) says what to do when Docker is unreachable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "checkdocker"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x" * 40, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_stops_at_once_with_advice_when_the_socket_is_missing(tmp_path: Path) -> None:
    proc = _check({"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"})
    assert proc.returncode == 1
    assert "cannot reach Docker" in proc.stderr
    assert "is dockerd running" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_it_refuses_a_malformed_docker_host() -> None:
    proc = _check({"DOCKER_HOST": "ftp://example"})
    assert proc.returncode == 1
    assert "expected unix:///path or tcp://host:port" in proc.stderr


@pytest.mark.parametrize("missing", ["ca.pem", "key.pem"])
def test_it_names_missing_tls_files(tmp_path: Path, missing: str) -> None:
    for name in {"ca.pem", "cert.pem", "key.pem"} - {missing}:
        (tmp_path / name).write_text("x")
    proc = _check({"DOCKER_HOST": "tcp://127.0.0.1:1", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert proc.returncode == 1
    assert f"{missing} missing in DOCKER_CERT_PATH" in proc.stderr
