"""The simulator in a process of its own, driven by JSON lines on stdin.

Benchmarks measure the dashboard, so the simulator's own CPU work (serving 20,000 tasks, stepping
their states) must not land in the measured process. This host serves ``bench.simulator.Simulator``
on a unix socket and answers one JSON object per line on stdout for each command it reads:

    {"op": "info"}                          -> {"nodes": n, "services": n, "tasks": n, "local_node": id}
    {"op": "fail", "local": true}           -> {"failed": id, "replacement": id, "service_id": id}
    {"op": "churn", "rate": 10}             -> {}
    {"op": "scale", "service_id": id, "replicas": n} -> {}
    {"op": "requests"}                      -> {"GET /tasks": n, ...}
    {"op": "stop"}                          -> {} and the process ends

``local``: a running task on node 1, whose container events reach the manager's /events (so the
dashboard hears of the change at once); otherwise any running task (seen at the next reconcile).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from typing import Any

from bench.simulator import Simulator


def _running(sim: Simulator, *, node_id: str = "") -> list[str]:
    return sim.task_ids(node_id=node_id, state="running", desired_state="running")


def _handle(sim: Simulator, rng: random.Random, command: dict[str, Any]) -> dict[str, Any]:
    op = command.get("op")
    if op == "info":
        return {
            "nodes": len(sim.node_ids),
            "services": len(sim.service_ids),
            "tasks": len(sim.task_ids()),
            "local_node": sim.local_node_id,
        }
    if op == "fail":
        candidates = _running(sim, node_id=sim.local_node_id if command.get("local") else "")
        if not candidates:
            return {"error": "no running task to fail"}
        task_id = str(command.get("task_id") or rng.choice(candidates))
        service_id = str(sim.task(task_id)["ServiceID"])
        replacement = sim.fail_task(task_id, exit_code=int(command.get("exit_code", 1)))
        return {"failed": task_id, "replacement": replacement, "service_id": service_id}
    if op == "churn":
        sim.set_churn(float(command["rate"]))
        return {}
    if op == "scale":
        sim.scale(str(command["service_id"]), int(command["replicas"]))
        return {}
    if op == "requests":
        return dict(sim.requests)
    return {"error": f"unknown op {op!r}"}


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        nodes=args.nodes,
        tasks=args.tasks,
        managers=args.managers,
        seed=args.seed,
        step_delay=args.step_delay,
    )
    await sim.start(args.socket)
    rng = random.Random(args.seed)
    print(json.dumps({"ready": True, "socket": args.socket}), flush=True)
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break  # the driver went away
            try:
                command = json.loads(line)
            except ValueError:
                print(json.dumps({"error": "not JSON"}), flush=True)
                continue
            if command.get("op") == "stop":
                print("{}", flush=True)
                break
            try:
                answer = _handle(sim, rng, command)
            except (ValueError, KeyError) as e:
                answer = {"error": str(e)}
            print(json.dumps(answer), flush=True)
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simhost")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step-delay", type=float, default=0.05)
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
