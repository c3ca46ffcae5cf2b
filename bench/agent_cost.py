"""What a node agent costs its node: `manage.py agent` on a lab worker running 100 task containers (a
service of 100 replicas constrained to it), linked to a recording stand-in of the dashboard. Reported
over the measuring window: the agent's CPU share of one core, its RSS and USS (/proc), stats bytes per
second (what the node sends the dashboard), and the time from start to the first inventory.

    .venv/bin/python -m bench.agent_cost [--replicas 100] [--seconds 60] [--stats-every 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness.process import interrupt_on_sigterm, need_root
from bench.harness.swarmlab import lab
from bench.harness.tables import fmt, machine, save, table
from tests.agentdash import AgentDashboard, start_agent
from tests.lab import Swarm, stop_process

WORKER = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, USS): all resident pages, and those of this process alone (RSS counts the shared libraries'
    pages too - OpenSSL, libpython - which the dashboard's container on the same node shares)."""
    kb = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        kb[name] = int(value.split()[0])
    return kb["Rss"] / 1024, (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024


def holds(kind: str, count: int) -> Callable[[list[dict[str, Any]]], bool]:
    """A message of ``kind`` listing at least ``count`` tasks has arrived."""
    return lambda ms: any(m["type"] == kind and len(m["tasks"]) >= count for m in ms)


def measure(replicas: int, seconds: float, stats_every: float) -> dict[str, Any]:
    with lab("agent", nodes=2) as the_lab, tempfile.TemporaryDirectory(prefix="agent-cost-") as tmp:
        swarm = Swarm(the_lab)
        try:
            service = swarm.create_service("cost", replicas=replicas,
                                           extra=("--constraint", f"node.hostname==swarm-n{WORKER}"))  # fmt: skip
            t0 = time.monotonic()
            swarm.wait_running(service, replicas, timeout=300)
            print(f"{replicas} task containers running on swarm-n{WORKER} in {time.monotonic() - t0:.0f}s", flush=True)
            token = secrets.token_urlsafe(32)
            dashboard = AgentDashboard(token, stats_every=stats_every).start()
            log = Path(tmp, "agent.log")
            started = time.monotonic()
            agent = start_agent(f"unix://{the_lab.sock(WORKER)}", dashboard.url, log, token=token,
                                extra={"LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO")})  # fmt: skip
            try:
                dashboard.wait_for(holds("inventory", replicas), timeout=120, what="the inventory")
                first_inventory = time.monotonic() - started
                dashboard.wait_for(holds("stats", replicas), timeout=120, what="stats for every task")
                cpu0, bytes0 = cpu_seconds(agent.pid), dashboard.bytes_by_type.get("stats", 0)
                t_start = time.monotonic()
                rss: list[float] = []
                uss: list[float] = []
                deadline = t_start + seconds
                while time.monotonic() < deadline:  # RSS sampled once a second
                    resident, private = memory_mb(agent.pid)
                    rss.append(resident)
                    uss.append(private)
                    time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                wall = time.monotonic() - t_start
                cpu = cpu_seconds(agent.pid) - cpu0
                stats_bytes = dashboard.bytes_by_type.get("stats", 0) - bytes0
                stats = dashboard.of_type("stats")
            except AssertionError:
                print(log.read_text()[-3000:])
                raise
            finally:
                stop_process(agent, grace=10)
                dashboard.stop()
            return {
                "replicas": replicas,
                "stats_every": stats_every,
                "seconds": round(wall, 1),
                "cpu_share_of_a_core_pct": round(100 * cpu / wall, 2),
                "rss_mb_mean": round(sum(rss) / len(rss), 1),
                "rss_mb_max": round(max(rss), 1),
                "uss_mb_max": round(max(uss), 1),
                "stats_bytes_per_s": round(stats_bytes / wall),
                "stats_message_bytes": round(stats_bytes / max(1, round(wall / stats_every))),
                "first_inventory_s": round(first_inventory, 2),
                "tasks_per_stats": len(stats[-1]["tasks"]),
                "agent_log_tail": log.read_text()[-600:],
            }
        finally:
            swarm.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stats-every", type=float, default=5.0)
    args = parser.parse_args()
    need_root("bench.agent_cost")
    interrupt_on_sigterm()
    result = measure(args.replicas, args.seconds, args.stats_every)
    print(table(
        f"node agent on a worker with {result['replicas']} task containers, stats every {result['stats_every']:g}s, "
        f"{result['seconds']:g}s window",
        ["CPU % of a core", "RSS MB mean / max", "USS MB max", "stats B/s", "stats B per round", "first inventory s"],
        [[fmt(result["cpu_share_of_a_core_pct"], 2), f"{fmt(result['rss_mb_mean'])} / {fmt(result['rss_mb_max'])}",
          fmt(result["uss_mb_max"]), result["stats_bytes_per_s"], result["stats_message_bytes"],
          fmt(result["first_inventory_s"], 2)]],
    ))  # fmt: skip
    path = save("agent_cost", {**result, "machine": machine()})
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
