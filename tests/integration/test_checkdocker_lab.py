"""checkdocker against real daemons: a manager passes, a worker is named as such."""

from __future__ import annotations

from tests.lab import Lab
from tests.unit.test_checkdocker import _check


def test_it_accepts_the_manager(lab: Lab) -> None:
    proc = _check({"DOCKER_HOST": lab.docker_host})
    assert proc.returncode == 0, proc.stderr
    assert "swarm manager of 3 node(s)" in proc.stdout


def test_it_says_a_worker_cannot_serve(lab: Lab) -> None:
    proc = _check({"DOCKER_HOST": f"unix://{lab.sock(2)}"})
    assert proc.returncode == 1
    assert "is a swarm worker" in proc.stderr
    assert "Point DOCKER_HOST at a manager node" in proc.stderr
