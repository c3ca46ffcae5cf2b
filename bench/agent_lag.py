"""Worker-side failure lag: a task's container killed on a worker, until a page shows the task ended,
beside when Docker's manager shows it — without node agents, then with one agent per node.

A manager's /events carries container events of its own node only, so without agents a death on a
worker reaches the dashboard through the periodic /tasks reconcile; with agents, the worker's agent
hears the "die" at once and the dashboard re-lists that service. What is measured, per kill, from
the moment the kill call returns (the container killed through its worker's own daemon, as
`docker kill` there does):

  docker   the manager's /tasks (polled every 20 ms) shows the task no longer running
  page     a websocket page (the model from its snapshot and every patch, as pages hold it) shows
           the task no longer running
  lag      page - docker: what the dashboard adds to what Docker already knows

The dashboard runs under daphne with the production reconcile period. Agents run as
`manage.py agent` processes, one per lab node, each pointed at its node's daemon.

    .venv/bin/python -m bench.agent_lag [--kills 20] [--replicas 6] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import harness
from bench.harness.swarmlab import DockerAPI
from tests.lab import stop_process
from tests.pagemodel import PageModel

SERVICE = "agentlag"


class EndedPage(PageModel):
    """A page on the dashboard, noting when each task is first seen no longer running (it was running)."""

    def __init__(self) -> None:
        super().__init__()
        self.ended_at: dict[str, float] = {}
        self.was_running: set[str] = set()

    def frame(self, frame: dict[str, Any]) -> None:
        super().frame(frame)
        now = time.monotonic()
        for task_id, task in self.model["tasks"].items():
            if task.get("state") == "running":
                self.was_running.add(task_id)
            elif task_id in self.was_running and task_id not in self.ended_at:
                self.ended_at[task_id] = now

    async def follow(self, dash: harness.Dashboard, stop: asyncio.Event) -> None:
        url = dash.url.replace("http://", "ws://") + "/ws/swarm?heartbeat=1"
        headers = {"Cookie": dash.cookie, "Origin": dash.url}
        async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers, max_msg_size=0) as ws:
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self.closed = f"{msg.type.name} {ws.close_code}"
                    return
                self.frame(json.loads(msg.data))


def start_agents(lab: Any, dash: harness.Dashboard, token: str) -> list[subprocess.Popen[bytes]]:
    agents = []
    for n in range(1, lab.nodes + 1):
        log = open(Path(dash.data_dir, f"agent-n{n}.log"), "wb")
        env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{lab.sock(n)}",
            "AGENT_DASHBOARD_URL": dash.url.replace("http://", "ws://") + "/ws/agent",
            "AGENT_TOKEN": token,
            "DJANGO_SETTINGS_MODULE": "visualizer.settings",
        }
        agents.append(
            subprocess.Popen([sys.executable, "manage.py", "agent"], cwd=harness.ROOT, env=env, stdout=log, stderr=log)
        )
    return agents


def agents_live(dash: harness.Dashboard, nodes: int) -> bool:
    """Every node says it has a live agent (the model's nodes carry it)."""
    snapshot = dash.get_json("/api/snapshot")
    return sum(1 for node in snapshot["nodes"] if node.get("agent")) >= nodes


def node_sockets(lab: Any) -> dict[str, str]:
    """node id -> that node's daemon socket"""
    return {lab.api("/info", node=n)["Swarm"]["NodeID"]: lab.sock(n) for n in range(1, lab.nodes + 1)}


def running_on_workers(api: DockerAPI, service_id: str, workers: set[str]) -> list[dict[str, Any]]:
    return [
        t
        for t in api.tasks(service_id)
        if t.get("Status", {}).get("State") == "running"
        and t.get("NodeID") in workers
        and t.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
    ]


async def kills(
    lab: Any, dash: harness.Dashboard, api: DockerAPI, service_id: str, replicas: int, count: int
) -> list[dict[str, float]]:
    sockets = node_sockets(lab)
    managers = {n["ID"] for n in api.request("GET", "/nodes") if n.get("Spec", {}).get("Role") == "manager"}
    workers = set(sockets) - managers
    page = EndedPage()
    stop = asyncio.Event()
    follower = asyncio.create_task(page.follow(dash, stop))
    poller = harness.TaskPoller(lab.sock(1), service_id)
    poller.start()
    trials: list[dict[str, float]] = []
    try:
        for i in range(count):
            await asyncio.to_thread(api.wait_running, service_id, replicas, 60)
            candidates = running_on_workers(api, service_id, workers)
            if not candidates:
                raise RuntimeError("no running task on a worker to kill")
            task = candidates[i % len(candidates)]
            deadline = time.monotonic() + 10
            while task["ID"] not in page.was_running and time.monotonic() < deadline:
                page.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(page.changed.wait(), timeout=0.5)
            container = task["Status"]["ContainerStatus"]["ContainerID"]
            worker = DockerAPI(sockets[task["NodeID"]])
            try:
                await asyncio.to_thread(worker.request, "POST", f"/containers/{container}/kill?signal=KILL")
            finally:
                worker.close()
            killed = time.monotonic()
            deadline = killed + 60
            docker_at: float | None = None
            page_at: float | None = None

            def ended(running: frozenset[str], _desired: frozenset[str], task_id: str = task["ID"]) -> bool:
                return task_id not in running

            while (docker_at is None or page_at is None) and time.monotonic() < deadline:
                docker_at = poller.first(killed, ended)
                page_at = page.ended_at.get(task["ID"])
                await asyncio.sleep(0.02)
            if docker_at is None or page_at is None:
                raise RuntimeError(f"kill {i + 1}: docker {docker_at}, page {page_at}: not both within 60 s")
            trials.append({"docker_s": docker_at - killed, "page_s": page_at - killed, "lag_s": page_at - docker_at})
            print(f"  kill {i + 1}/{count}: lag {trials[-1]['lag_s']:.3f} s", file=sys.stderr, flush=True)
    finally:
        stop.set()
        await asyncio.gather(follower, return_exceptions=True)
        poller.stop()
    return trials


def summarize(name: str, trials: list[dict[str, float]]) -> dict[str, Any]:
    lags = [t["lag_s"] for t in trials]
    docker = [t["docker_s"] for t in trials]
    return {
        "mode": name,
        "kills": len(trials),
        "lag_p50_s": harness.percentile(lags, 50),
        "lag_max_s": max(lags),
        "docker_p50_s": harness.percentile(docker, 50),
        "trials": trials,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_lag", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="5 kills per mode")
    args = parser.parse_args(argv)
    count = 5 if args.quick else args.kills
    harness.need_root("the swarm lab")
    harness.interrupt_on_sigterm()
    token = secrets.token_urlsafe(32)
    results = []
    with harness.lab("agentlag", nodes=3, managers=1) as lab:
        api = DockerAPI(lab.sock(1))
        service_id = api.create_service(SERVICE, args.replicas)
        current = api.request("GET", f"/services/{service_id}")
        spec = current["Spec"]
        spec["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==worker"]}  # deaths the manager cannot see
        api.request("POST", f"/services/{service_id}/update?version={current['Version']['Index']}", spec)
        with harness.Dashboard(lab.docker_host, env={"AGENT_TOKEN": token}) as dash:
            print("without agents:", file=sys.stderr, flush=True)
            results.append(
                summarize("without agents", asyncio.run(kills(lab, dash, api, service_id, args.replicas, count)))
            )
            agents = start_agents(lab, dash, token)
            try:
                deadline = time.monotonic() + 30
                while not agents_live(dash, lab.nodes):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the agents did not all say hello within 30 s")
                    time.sleep(0.2)
                print("with agents:", file=sys.stderr, flush=True)
                results.append(
                    summarize("with agents", asyncio.run(kills(lab, dash, api, service_id, args.replicas, count)))
                )
            finally:
                for agent in agents:
                    stop_process(agent)
    print(
        harness.table(
            "Worker-side failure lag: page shows the task ended - Docker's manager shows it",
            ["mode", "kills", "lag p50 s", "lag max s", "docker p50 s"],
            [
                [
                    r["mode"],
                    r["kills"],
                    harness.fmt(r["lag_p50_s"], 3),
                    harness.fmt(r["lag_max_s"], 3),
                    harness.fmt(r["docker_p50_s"], 3),
                ]
                for r in results
            ],
        )
    )
    print("targets with agents: p50 <= 0.3 s, max <= 1 s")
    print(f"results: {harness.save('agent_lag', {'machine': harness.machine(), 'results': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
