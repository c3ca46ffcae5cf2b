"""python -m bench.grid_scale: the arguments, the runs asked for, the report and the results file."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench import grid_scale, harness
from bench.grid_scale.report import report
from bench.grid_scale.runs import run_lab, run_sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grid_scale", description=grid_scale.__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=10, help="task failures per second under churn (default 10)")
    parser.add_argument(
        "--steady-rate",
        type=float,
        default=2.5,
        help="failures per second on node 1 for the steady phase (default 2.5: ~10 task changes/s)",
    )
    parser.add_argument("--seconds", type=float, default=30, help="each phase (default 30)")
    parser.add_argument("--loads", type=int, default=5, help="page loads measured (default 5)")
    parser.add_argument("--singles", type=int, default=10, help="single changes (default 10)")
    parser.add_argument("--only", choices=("sim", "lab"), default=None)
    parser.add_argument("--deployed-wait", type=float, default=20, help="seconds to wait for the as-deployed page")
    parser.add_argument(
        "--max-message",
        type=int,
        default=16 * 2**20,
        help="daphne --websocket-max-message-size when the as-deployed page never gets ready",
    )
    parser.add_argument("--quick", action="store_true", help="10 s phases, 2 loads, 4 single changes")
    args = parser.parse_args(argv)
    args.settle = 6.0
    args.trace_seconds = 6.0
    if args.quick:
        args.seconds, args.loads, args.singles, args.settle, args.trace_seconds = 10, 2, 4, 4.0, 4.0
    harness.need_chromium()
    harness.interrupt_on_sigterm()
    data: dict[str, Any] = {"benchmark": "grid_scale", "machine_at_start": harness.machine()}
    if args.only in (None, "sim"):
        data["sim"] = asyncio.run(run_sim(args))
    if args.only in (None, "lab"):
        harness.need_root("bench.grid_scale on the lab")
        data["lab"] = asyncio.run(run_lab(args))
    report(data, args)
    data.update(machine=harness.machine(), settings=vars(args))
    print(f"results: {harness.save('grid_scale', data)}")
    return 0
