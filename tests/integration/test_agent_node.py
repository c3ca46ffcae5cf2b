"""`manage.py agent` on a worker of the lab (swarm-n2, its own daemon's socket), talking to a recording
stand-in of the dashboard: what a manager's /events never carries (a worker's container dying, OOM,
turning unhealthy, its resource use) reaches the dashboard from the agent."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agentdash import AgentDashboard, start_agent
from tests.lab import Lab, Swarm, stop_process, wait_until

WORKER = 2
ON_WORKER = ("--constraint", f"node.hostname==swarm-n{WORKER}")


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def dashboard(token: str) -> Iterator[AgentDashboard]:
    dash = AgentDashboard(token, stats_every=1.0).start()
    yield dash
    dash.stop()


@pytest.fixture
def agent_log(tmp_path: Path) -> Path:
    return tmp_path / "agent.log"


def run_agent(lab: Lab, url: str, log: Path, token: str) -> subprocess.Popen[bytes]:
    return start_agent(f"unix://{lab.sock(WORKER)}", url, log, token=token)


@pytest.fixture
def launch(lab: Lab, dashboard: AgentDashboard, agent_log: Path, token: str) -> Iterator[Callable[[], None]]:
    """Starts the agent on the worker (once the test's services run there); SIGTERM must end it cleanly."""
    started: list[subprocess.Popen[bytes]] = []
    yield lambda: started.append(run_agent(lab, dashboard.url, agent_log, token))
    for proc in started:
        t0 = time.monotonic()
        stop_process(proc, grace=10)
        assert proc.returncode == 0, f"the agent did not end cleanly on SIGTERM:\n{agent_log.read_text()[-2000:]}"
        assert time.monotonic() - t0 < 3, "the agent took its time to stop on SIGTERM"
        assert token not in agent_log.read_text()


def worker_containers(lab: Lab, service: str) -> dict[str, str]:
    """task id -> container id of ``service``'s containers on the worker, from its own daemon."""
    out = lab.docker("ps", "-a", "--filter", f"label=com.docker.swarm.service.name={service}", "--format",
                     '{{.ID}} {{.Label "com.docker.swarm.task.id"}}', node=WORKER)  # fmt: skip
    pairs = (line.split() for line in out.splitlines() if line.strip())
    return {task: container for container, task in pairs}


def events(messages: list[dict[str, Any]], action: str, service_id: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("type") == "event" and m["action"] == action and m["service_id"] == service_id]


def test_it_reports_a_workers_task_containers_their_deaths_health_oom_and_use(
    lab: Lab, swarm: Swarm, dashboard: AgentDashboard, launch: Callable[[], None]
) -> None:
    sleeper = swarm.create_service("agent-sleep", replicas=2, extra=(*ON_WORKER, "--limit-memory", "64M"))
    swarm.wait_running(sleeper, 2)
    sleeper_id = swarm.service_id(sleeper)
    running = worker_containers(lab, sleeper)
    launch()

    # hello first, with the worker's own identity, then an inventory that lists its task containers
    hello = dashboard.wait_for(lambda ms: ms and ms[0], timeout=30, what="hello")
    node_id = lab.node_ids()[f"swarm-n{WORKER}"]
    assert (hello["type"], hello["node_id"], hello["hostname"]) == ("hello", node_id, f"swarm-n{WORKER}")
    assert hello["engine"] and hello["protocol"] == 1

    def listed(ms: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        inventories = [m for m in ms if m["type"] == "inventory"]
        found = {t["task_id"]: t for t in inventories[-1]["tasks"]} if inventories else {}
        return found if set(running) <= set(found) else None

    inventory = dashboard.wait_for(listed, timeout=30, what="an inventory listing the worker's tasks")
    for task_id, container in running.items():
        entry = inventory[task_id]
        assert entry["container_id"].startswith(container) and entry["running"] and entry["service_id"] == sleeper_id
        assert entry["exit_code"] is None and entry["oom_killed"] is False and entry["health"] == ""
    # only swarm task containers: the lab's nodes run nothing else, every entry names a task
    assert all(e["task_id"] and e["service_id"] for e in inventory.values())

    # stats for the running tasks: memory used, the service's limit, CPU in cores
    def sampled(ms: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        for m in reversed(ms):
            if m["type"] == "stats":
                usage = {t["task_id"]: t for t in m["tasks"]}
                if set(running) <= set(usage):
                    return usage
        return None

    usage = dashboard.wait_for(sampled, timeout=30, what="stats for both running tasks")
    for task_id in running:
        assert usage[task_id]["memory_limit"] == 64 * 1024 * 1024
        assert 0 < usage[task_id]["memory"] < 64 * 1024 * 1024
        assert 0 <= usage[task_id]["cpu"] < 1
    last = dashboard.of_type("stats")[-1]
    assert last["node"]["cpus"] >= 1 and last["node"]["memory_total"] > 64 * 1024 * 1024

    # a task's container killed through the worker's own daemon: "die" with its exit code
    victim_task, victim = next(iter(running.items()))
    lab.docker("kill", victim, node=WORKER)
    died = dashboard.wait_for(lambda ms: events(ms, "die", sleeper_id), timeout=15, what="die")[0]
    assert (died["task_id"], died["exit_code"]) == (victim_task, 137)
    assert died["container_id"].startswith(victim) and died["time_nano"] > 0

    # a failing healthcheck: health_status "unhealthy" with the check's output
    sick = swarm.create_service("agent-sick", extra=(*ON_WORKER, "--health-cmd", "echo disk-is-full-$((6*7)); exit 1",
                                                     "--health-interval", "1s", "--health-retries", "1"))  # fmt: skip
    sick_id = swarm.service_id(sick)
    status = dashboard.wait_for(
        lambda ms: [m for m in events(ms, "health_status", sick_id) if m["health"] == "unhealthy"],
        timeout=30, what="health_status: unhealthy",
    )[0]  # fmt: skip
    assert "disk-is-full-42" in status["output"]

    # a task over its memory limit: "oom". The allocation waits a second: a process killed the instant
    # it starts can end before containerd watches the container's OOM events (then Docker says 137 only)
    hog = swarm.create_service(
        "agent-oom",
        extra=(*ON_WORKER, "--limit-memory", "8M", "--restart-condition", "none"),
        command=("sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1"),
    )
    hog_id = swarm.service_id(hog)
    oom = dashboard.wait_for(lambda ms: events(ms, "oom", hog_id), timeout=30, what="oom")[0]
    assert oom["task_id"] in worker_containers(lab, hog)


def test_it_retries_a_refused_token_with_backoff_and_never_logs_it(
    lab: Lab, agent_log: Path, token: str, dashboard: AgentDashboard
) -> None:
    wrong = secrets.token_urlsafe(32)
    proc = run_agent(lab, dashboard.url, agent_log, wrong)
    try:
        dashboard.wait_links(3, timeout=30)  # refused, and tried again, and again
        assert dashboard.authorizations[0] == f"Bearer {wrong}"
        assert dashboard.refused == dashboard.links and not dashboard.messages
        log = wait_until(lambda: (t := agent_log.read_text()).count("close 4401") >= 2 and t, timeout=10,
                         what="the refusal in the agent's log")  # fmt: skip
        assert "refused this agent's token (close 4401)" in log and "AGENT_TOKEN" in log
        assert wrong not in log
        assert proc.poll() is None  # it keeps trying: the dashboard's token may be set right later
    finally:
        stop_process(proc, grace=10)
    assert proc.returncode == 0


def test_it_links_again_after_the_dashboard_restarts(
    lab: Lab, swarm: Swarm, dashboard: AgentDashboard, launch: Callable[[], None]
) -> None:
    sleeper = swarm.create_service("agent-back", extra=ON_WORKER)
    swarm.wait_running(sleeper, 1)
    (task_id,) = worker_containers(lab, sleeper)
    launch()

    def has_task(ms: list[dict[str, Any]]) -> bool:
        return any(m["type"] == "inventory" and task_id in {t["task_id"] for t in m["tasks"]} for m in ms)

    dashboard.wait_for(has_task, timeout=30, what="the first inventory")
    dashboard.stop()
    dashboard.messages.clear()
    dashboard.start()  # the same port
    dashboard.wait_for(has_task, timeout=40, what="hello and a fresh inventory after the restart")
    kinds = [m["type"] for m in dashboard.messages]
    assert kinds[:2] == ["hello", "inventory"]


def test_it_follows_its_daemon_again_after_a_restart_and_lists_afresh(
    lab: Lab, swarm: Swarm, dashboard: AgentDashboard, launch: Callable[[], None], agent_log: Path
) -> None:
    sleeper = swarm.create_service("agent-restart", extra=ON_WORKER)
    swarm.wait_running(sleeper, 1)
    launch()
    dashboard.wait_for(lambda ms: [m for m in ms if m["type"] == "inventory"], timeout=30, what="the first inventory")
    swarm.kill_node(WORKER)
    gone = "node daemon: next attempt"  # logged only after a failure
    wait_until(lambda: gone in agent_log.read_text(), timeout=30, what="the agent to see its daemon gone")
    swarm.restart_node(WORKER)
    # the link to the dashboard stayed up; the agent subscribed again and sent a fresh list after
    dashboard.wait_for(lambda ms: len([m for m in ms if m["type"] == "inventory"]) >= 2, timeout=60,
                       what="a fresh inventory after the daemon's restart")  # fmt: skip
    assert dashboard.links == 1 and len(dashboard.of_type("hello")) == 1
    wait_until(lambda: lab.node_state(f"swarm-n{WORKER}") == "ready", timeout=60, what="the worker ready again")
