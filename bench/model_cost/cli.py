"""python -m bench.model_cost: the arguments, the simulator host, the runs, the report and the results file."""

from __future__ import annotations

import argparse
import asyncio

from bench import harness, model_cost
from bench.model_cost.measure import STEP_DELAY, measure
from bench.model_cost.report import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_cost", description=model_cost.__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 changes")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = 10
    harness.interrupt_on_sigterm()
    started = harness.machine()
    with harness.SimHost(nodes=args.nodes, tasks=args.tasks, step_delay=STEP_DELAY) as sim:
        data = asyncio.run(measure(sim, args.trials, args.profile))
    report(data, args)
    data.update(benchmark="model_cost", machine_at_start=started, machine=harness.machine(),
                settings={"nodes": args.nodes, "tasks": args.tasks, "trials": args.trials})  # fmt: skip
    print(f"results: {harness.save('model_cost', data)}")
    return 0
