"""The swarm lab is a real swarm: roles, spreading, global services, node death and return, clean-up."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.lab import Lab, Swarm, missing_requirements, wait_until


def test_it_starts_ready_nodes_with_the_expected_roles(lab: Lab) -> None:
    nodes = {n["Description"]["Hostname"]: n for n in lab.api("/nodes")}
    assert sorted(nodes) == ["swarm-n1", "swarm-n2", "swarm-n3"]
    assert {h: n["Status"]["State"] for h, n in nodes.items()} == dict.fromkeys(nodes, "ready")
    assert {h: n["Spec"]["Role"] for h, n in nodes.items()} == {
        "swarm-n1": "manager",
        "swarm-n2": "worker",
        "swarm-n3": "worker",
    }
    assert nodes["swarm-n1"]["ManagerStatus"]["Leader"] is True
    # distinct engines, not one daemon answering three times
    assert len({n["Description"]["Engine"]["EngineVersion"] for n in nodes.values()}) == 1
    assert len({lab.api("/info", node=i)["ID"] for i in (1, 2, 3)}) == 3


def test_it_spreads_six_replicas_over_the_three_nodes(lab: Lab, swarm: Swarm) -> None:
    name = swarm.create_service("web", replicas=6)
    swarm.wait_running(name, 6)
    ids = {v: k for k, v in lab.node_ids().items()}
    per_node = Counter(ids[t["NodeID"]] for t in swarm.tasks(name))
    assert per_node == {"swarm-n1": 2, "swarm-n2": 2, "swarm-n3": 2}


def test_it_runs_one_task_of_a_global_service_on_each_node(lab: Lab, swarm: Swarm) -> None:
    name = swarm.create_service("agent", mode="global")
    swarm.wait_running(name, 3)
    assert sorted(t["NodeID"] for t in swarm.tasks(name)) == sorted(lab.node_ids().values())


def test_it_marks_a_killed_worker_down_and_a_restarted_one_ready(lab: Lab, swarm: Swarm) -> None:
    swarm.kill_node(3)
    wait_until(lambda: lab.node_state("swarm-n3") == "down", timeout=20, what="swarm-n3 down")
    assert not lab.is_running(3)
    swarm.restart_node(3)
    wait_until(lambda: lab.node_state("swarm-n3") == "ready", timeout=30, what="swarm-n3 ready")


def test_it_offers_three_managers_on_request(lab3: Lab) -> None:
    managers = [n["ManagerStatus"] for n in lab3.api("/nodes")]
    assert len(managers) == 3
    assert sorted(m["Reachability"] for m in managers) == ["reachable"] * 3
    assert sum(m.get("Leader", False) for m in managers) == 1


def _leftovers(base: str, prefix: str) -> list[str]:
    found = []
    netns = Path("/run/netns")
    if netns.is_dir():
        found += [f"netns {p.name}" for p in netns.iterdir() if p.name.startswith(prefix)]
    found += [
        f"mount {line.split()[1]}"
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1].startswith(base + "/")
    ]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if (base + "/").encode() in cmdline:
                found.append(f"process {pid}: {cmdline[:80]!r}")
    out = subprocess.run(
        ["find", "/sys/fs/cgroup", "-maxdepth", "3", "-name", f"swarmlab-{prefix}*"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout
    found += [f"cgroup {c}" for c in out.split()]
    return found


@pytest.mark.lab
def test_it_leaves_no_process_namespace_mount_or_cgroup_after_down(tmp_path: Path) -> None:
    why = missing_requirements()
    if why:
        pytest.fail(why) if IN_CI else pytest.skip(why)
    tag = f"c{os.getpid() % 100000}"
    lab = Lab(base=f"/tmp/svlab-{tag}", prefix=f"sv{tag}", nodes=2, managers=1).up()
    try:
        name = "probe"
        lab.docker(
            "service",
            "create",
            "-d",
            "-q",
            "--no-resolve-image",
            "--stop-grace-period",
            "1s",
            "--mode",
            "global",
            "--name",
            name,
            "local/busybox:1",
            "sleep",
            "100000",
        )
        wait_until(
            lambda: len([t for t in lab.api("/tasks") if t["Status"]["State"] == "running"]) == 2,
            timeout=30,
            what="probe tasks running",
        )
        assert _leftovers(lab.base, lab.prefix), "a running lab should be visible to the check"
    finally:
        lab.down()
    assert _leftovers(lab.base, lab.prefix) == []
