"""python -m bench.simulator: the simulator in a process of its own, until a signal or --seconds."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from bench.simulator.profiles import PROFILES
from bench.simulator.server import Simulator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description="A Docker Engine API simulator.")
    parser.add_argument("--socket", required=True, help="unix socket to serve on")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000, help="about this many tasks in total")
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--churn", type=float, default=0.0, help="task failures per second")
    parser.add_argument("--step-delay", type=float, default=0.05, help="seconds between two task states")
    parser.add_argument("--engine", choices=sorted(PROFILES), default="20.10", help="the Docker Engine to answer as")
    parser.add_argument("--log-interval", type=float, default=1.0, help="seconds between two lines of a followed log")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: on a signal)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        nodes=args.nodes,
        tasks=args.tasks,
        managers=args.managers,
        seed=args.seed,
        churn=args.churn,
        step_delay=args.step_delay,
        engine=args.engine,
        log_interval=args.log_interval,
    )
    await sim.start(args.socket)
    print(
        f"serving {len(sim.node_ids)} nodes, {len(sim.service_ids)} services, {len(sim.task_ids())} tasks "
        f"on unix://{args.socket} as Engine {sim.profile.engine} (API {sim.profile.api}, churn {args.churn:g}/s)",
        file=sys.stderr,
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.seconds):
                await stopping.wait()
    finally:
        await sim.stop()
    for endpoint, count in sorted(sim.requests.items()):
        print(f"{count:8d}  {endpoint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0
