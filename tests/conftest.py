"""The shared fixture world: a real swarm lab per test session, a per-test helper that cleans up.

Tests marked ``lab`` need root and the lab's tools. Locally they are skipped with the reason when
those are missing; under CI=true a skip anywhere fails the run (see pytest_sessionfinish).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.lab import Lab, LabUnavailable, Swarm, missing_requirements
from tests.redisd import REDIS_SERVER, RedisServer

IN_CI = os.environ.get("CI", "").lower() == "true"
_labs: dict[str, Lab] = {}


def _start_lab(key: str, nodes: int, managers: int) -> Lab:
    if key in _labs:
        return _labs[key]
    why = missing_requirements()
    if why:
        if IN_CI:
            pytest.fail(f"CI=true and the lab cannot start: {why}")
        pytest.skip(why)
    tag = f"{os.getpid() % 100000}{key}"
    lab = Lab(base=f"/tmp/svlab-{tag}", prefix=f"sv{tag}", nodes=nodes, managers=managers)
    try:
        lab.up()
    except (RuntimeError, LabUnavailable) as e:
        pytest.fail(f"the swarm lab did not start: {e}")
    _labs[key] = lab
    return lab


@pytest.fixture(scope="session")
def lab() -> Lab:
    """3 nodes: swarm-n1 (manager, leader), swarm-n2 and swarm-n3 (workers)."""
    return _start_lab("a", 3, 1)


@pytest.fixture(scope="session")
def lab3() -> Lab:
    """3 nodes, all managers."""
    return _start_lab("m", 3, 3)


@pytest.fixture
def swarm(lab: Lab) -> Iterator[Swarm]:
    helper = Swarm(lab)
    yield helper
    helper.cleanup()


@pytest.fixture
def swarm3(lab3: Lab) -> Iterator[Swarm]:
    helper = Swarm(lab3)
    yield helper
    helper.cleanup()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server of this test session (a unix socket in a folder of its own)."""
    if not os.path.exists(REDIS_SERVER):
        why = "redis-server is not installed (apt-get install -y redis-server)"
        if IN_CI:
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"lab", "lab3", "swarm", "swarm3"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    problems = []
    for key, lab in list(_labs.items()):
        try:
            seconds = lab.down()
            print(f"\nswarm lab {key}: up in {lab.up_seconds:.1f}s, down in {seconds:.1f}s")
        except RuntimeError as e:
            problems.append(str(e))
        _labs.pop(key)
    if problems:
        print("\nswarm lab teardown left things behind:\n" + "\n".join(problems))
        session.exitstatus = 1
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped:
        print(f"\nCI=true: {skipped} test(s) skipped; under CI every test must run")
        session.exitstatus = 1
