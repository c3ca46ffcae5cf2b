"""Docker's load at the manager with node agents covering every node, against none: the simulator at
500 nodes / 20,000 tasks, the dashboard under daphne with its production settings.

With every ready node covered by a live agent the dashboard relaxes its periodic /tasks reconcile
(the agents tell it of every container's death at once; the reconcile stays as the safety net), so
the manager is asked less. The agents here are scripted websocket clients speaking
dashboard/agent/messages.py for the simulator's nodes (hello, an empty inventory, a stats message
every ``stats_every`` seconds): what the dashboard is sent by real agents, without 500 daemons.

Figures: Docker requests/s by endpoint without and with agents; the agents' traffic (stats bytes
per second per node).

    .venv/bin/python -m bench.agent_load [--nodes 500] [--tasks 20000] [--seconds 240] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from typing import Any

import aiohttp

from bench import harness
from bench.harness.swarmlab import DockerAPI
from dashboard.agent.messages import PROTOCOL, Hello, Inventory, NodeUsage, Stats


class Agents:
    """One scripted agent per node: hello, inventory, then stats on the dashboard's cadence."""

    def __init__(self, dash: harness.Dashboard, token: str, nodes: list[dict[str, Any]]) -> None:
        self.url = dash.url.replace("http://", "ws://") + "/ws/agent"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.nodes = nodes
        self.bytes_sent = 0
        self.welcomed = 0
        self.closed: list[str] = []

    async def one(self, session: aiohttp.ClientSession, node: dict[str, Any], stop: asyncio.Event) -> None:
        resources = node.get("Description", {}).get("Resources", {})
        hello: Hello = {
            "type": "hello",
            "protocol": PROTOCOL,
            "node_id": node["ID"],
            "hostname": node.get("Description", {}).get("Hostname", ""),
            "engine": "29.0.0",
            "agent": "bench",
        }
        inventory: Inventory = {"type": "inventory", "tasks": []}
        usage: NodeUsage = {
            "cpus": resources.get("NanoCPUs", 0) / 1e9,
            "cpu": 0.5,
            "memory": 1 << 30,
            "memory_total": resources.get("MemoryBytes", 0),
        }
        async with session.ws_connect(self.url, headers=self.headers) as ws:
            for message in (hello, inventory):
                text = json.dumps(message)
                self.bytes_sent += len(text)
                await ws.send_str(text)
            welcome = json.loads((await ws.receive(timeout=30)).data)
            self.welcomed += 1
            every = float(welcome.get("stats_every", 5))
            while not stop.is_set():
                stats: Stats = {"type": "stats", "at": time.time(), "node": usage, "tasks": []}
                text = json.dumps(stats)
                self.bytes_sent += len(text)
                await ws.send_str(text)
                try:
                    msg = await ws.receive(timeout=every)
                except TimeoutError:
                    continue
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    self.closed.append(f"{node['ID']}: {ws.close_code}")
                    return

    async def run(self, stop: asyncio.Event) -> None:
        # one connection per agent: aiohttp's default pool would hold all but 100 back
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await asyncio.gather(*(self.one(session, node, stop) for node in self.nodes), return_exceptions=True)


def covered(dash: harness.Dashboard) -> int:
    return sum(1 for node in dash.get_json("/api/snapshot")["nodes"] if node.get("agent"))


async def measure(dash: harness.Dashboard, seconds: float) -> dict[str, float]:
    before = await asyncio.to_thread(dash.requests)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    return harness.request_rates(before, await asyncio.to_thread(dash.requests), time.monotonic() - t0)


async def with_agents(dash: harness.Dashboard, agents: Agents, seconds: float) -> tuple[dict[str, float], float]:
    stop = asyncio.Event()
    running = asyncio.create_task(agents.run(stop))
    try:
        deadline = time.monotonic() + 120
        while await asyncio.to_thread(covered, dash) < len(agents.nodes):
            if time.monotonic() > deadline or running.done():
                raise RuntimeError(f"agents did not cover every node ({agents.welcomed} welcomed, {agents.closed[:3]})")
            await asyncio.sleep(1)
        sent_before = agents.bytes_sent
        t0 = time.monotonic()
        rates = await measure(dash, seconds)
        per_node = (agents.bytes_sent - sent_before) / (time.monotonic() - t0) / len(agents.nodes)
        return rates, per_node
    finally:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_load", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--quick", action="store_true", help="90 s windows")
    args = parser.parse_args(argv)
    seconds = 90 if args.quick else args.seconds
    harness.interrupt_on_sigterm()
    token = secrets.token_urlsafe(32)
    with harness.SimHost(nodes=args.nodes, tasks=args.tasks) as sim:
        api = DockerAPI(sim.socket)
        nodes = list(api.request("GET", "/nodes"))
        # what each listing weighs (its JSON as the manager sends it, near enough): the bytes the manager
        # serves per second follow from the rates
        sizes = {
            f"GET /{kind}": len(json.dumps(api.request("GET", f"/{kind}"))) for kind in ("nodes", "services", "tasks")
        }
        api.close()
        with harness.Dashboard(sim.docker_host, env={"AGENT_TOKEN": token}) as dash:
            without = asyncio.run(measure(dash, seconds))
            agents = Agents(dash, token, nodes)
            with_, per_node = asyncio.run(with_agents(dash, agents, seconds))
    endpoints = sorted(set(without) | set(with_))
    rows = [[e, harness.fmt(without.get(e, 0.0), 3), harness.fmt(with_.get(e, 0.0), 3)] for e in endpoints]
    rows.append(["total", harness.fmt(sum(without.values()), 3), harness.fmt(sum(with_.values()), 3)])

    def served(rates: dict[str, float]) -> float:
        return sum(rate * sizes.get(e, 0) for e, rate in rates.items()) / 1e6

    rows.append(["listings, MB/s", harness.fmt(served(without), 2), harness.fmt(served(with_), 2)])
    print(
        harness.table(
            f"Docker requests/s at the manager, {args.nodes} nodes / {args.tasks} tasks",
            ["endpoint", "no agents", "agents on every node"],
            rows,
        )
    )
    print(f"agents' traffic: {per_node:.0f} bytes/s per node (hello, inventory, stats)")
    results = {
        "without": without,
        "with": with_,
        "listing_bytes": sizes,
        "agent_bytes_per_node_s": per_node,
        "machine": harness.machine(),
    }
    print(f"results: {harness.save('agent_load', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
