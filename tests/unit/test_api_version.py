"""The Engine API version is chosen as the docker CLI chooses it, from an unversioned GET /version."""

from __future__ import annotations

import aiodocker
import pytest

from dashboard.core.docker import DockerClient, Endpoint, VersionMismatch, negotiate


def doc(api: str, minimum: str | None = None, engine: str = "x") -> dict[str, str]:
    answer = {"ApiVersion": api, "Version": engine}
    if minimum is not None:
        answer["MinAPIVersion"] = minimum
    return answer


@pytest.mark.parametrize(
    ("engine", "api", "minimum", "used"),
    [
        ("20.10.24", "1.41", "1.12", "1.41"),  # Debian 12's docker.io
        ("24.0.7", "1.43", "1.12", "1.43"),
        ("25.0.5", "1.44", "1.24", "1.44"),
        ("28.2.2", "1.50", "1.24", "1.50"),
        ("29.0.2", "1.52", "1.44", "1.52"),  # refuses anything below 1.44
        ("30.0.0", "1.54", "1.44", "1.52"),  # newer than we know: the newest we verified
    ],
)
def test_it_speaks_the_highest_version_both_sides_know(engine: str, api: str, minimum: str, used: str) -> None:
    assert negotiate(doc(api, minimum, engine), "unix:///var/run/docker.sock") == used


def test_it_refuses_a_daemon_older_than_it_supports_naming_both_versions() -> None:
    with pytest.raises(VersionMismatch) as raised:
        negotiate(doc("1.40", "1.12", "19.03.15"), "tcp://m1:2376")
    text = str(raised.value)
    assert "1.40" in text and "1.41" in text and "19.03.15" in text and "tcp://m1:2376" in text
    assert "upgrade Docker" in text


def test_it_refuses_a_daemon_that_no_longer_speaks_any_version_it_knows() -> None:
    with pytest.raises(VersionMismatch) as raised:
        negotiate(doc("1.60", "1.53", "35.0.0"), "unix:///run/docker.sock")
    text = str(raised.value)
    assert "1.53" in text and "1.52" in text and "upgrade the dashboard" in text


@pytest.mark.parametrize("junk", [{}, {"ApiVersion": 1.41}, {"ApiVersion": "one.four"}, {"ApiVersion": "1"}])
def test_it_says_clearly_when_the_version_answer_is_junk(junk: dict[str, object]) -> None:
    with pytest.raises(VersionMismatch, match="did not say which API version"):
        negotiate(junk, "unix:///var/run/docker.sock")


@pytest.mark.parametrize("junk", ["1.²", "1.41.0", " 1.41", "1.41\n"])
def test_it_takes_only_plain_digits_for_a_version(junk: str) -> None:
    with pytest.raises(VersionMismatch, match="did not say which API version"):
        negotiate({"ApiVersion": junk}, "unix:///var/run/docker.sock")


def test_it_asks_again_when_the_daemon_behind_the_address_refuses_its_version() -> None:
    # an in-place upgrade from 20.10 to 29, or a balancer over managers of two versions
    client = DockerClient(Endpoint(host="unix:///var/run/docker.sock"))
    client.api_version = "1.41"
    message = "client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client"
    refusal = aiodocker.DockerError(400, message)
    problem = client._classify(refusal, "nodes")
    assert "too old" in str(problem) and client.api_version == ""
