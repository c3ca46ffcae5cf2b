"""python -m bench.scale_out: the arguments, the runs asked for, the tables and the results file."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from bench import harness, scale_out
from bench.scale_out.cluster import profile_summary, raise_open_files
from bench.scale_out.runs import broadcast, docker_load, storm

RUNS = ("broadcast", "docker", "storm")


def _levels(text: str) -> tuple[int, ...]:
    levels = tuple(int(x) for x in text.split(","))
    if any(n <= 0 or n % 2 for n in levels) or list(levels) != sorted(levels):
        raise argparse.ArgumentTypeError("even viewer counts, growing: e.g. 500,1000,2000")
    return levels


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=scale_out.__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows; the storm on one process only")
    parser.add_argument("--only", choices=RUNS, action="append", help="run only this (repeatable)")
    parser.add_argument("--levels", type=_levels, default=(500, 1000, 2000), help="viewers (default 500,1000,2000)")
    parser.add_argument("--nodes", type=int, default=20, help="simulator nodes for broadcast and docker (default 20)")
    parser.add_argument("--tasks", type=int, default=400, help="simulator tasks for broadcast and docker (default 400)")
    parser.add_argument("--rate", type=float, default=1.5, help="task failures/s on node 1 (default 1.5: ~5 patches/s)")
    parser.add_argument("--window", type=float, default=30, help="broadcast window per level, s (default 30)")
    parser.add_argument("--docker-seconds", type=float, default=60, help="each docker phase, s (default 60)")
    parser.add_argument("--concurrency", type=int, default=50, help="broadcast viewers connecting at a time")
    parser.add_argument("--connect-timeout", type=float, default=180, help="bound on opening one level's viewers")
    parser.add_argument("--storm-viewers", type=int, default=1000)
    parser.add_argument("--storm-nodes", type=int, default=500)
    parser.add_argument("--storm-tasks", type=int, default=20_000)
    parser.add_argument("--storm-timeout", type=float, default=240, help="bound on one storm, s (default 240)")
    parser.add_argument("--rss-abort", type=int, default=6144, help="stop a storm when a process passes this, MB")
    parser.add_argument(
        "--profile", type=Path, default=None,
        help="broadcast only: run both processes under cProfile, stats into this folder (slower: not the figures)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.settle, args.drain = 5.0, 5.0
    args.storm_processes = (1, 2)
    if args.quick:
        args.window, args.docker_seconds, args.settle, args.drain = 15, 20, 3.0, 4.0
        args.storm_processes, args.storm_timeout = (1,), min(args.storm_timeout, 120)
        args.connect_timeout = min(args.connect_timeout, 90)  # the whole run within ~10 min, whatever happens
    args.runs = tuple(args.only or RUNS)
    return args


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


def report(data: dict[str, Any]) -> None:
    if "broadcast" in data:
        rows = []
        for p in data["broadcast"]["points"]:
            f = p["latency"]
            procs = [v for k, v in p["processes"].items() if k.startswith("process")]
            others = {k: v for k, v in p["processes"].items() if not k.startswith("process")}
            rows.append([
                p["viewers"], p["loaded"], f"{p['patches_per_s']:.1f}", _ms(f["every_p50_ms"]), _ms(f["every_p99_ms"]),
                _ms(f["every_max_ms"]), _ms(f["delivery_p50_ms"]), _ms(f["delivery_p99_ms"]), f["missed_deliveries"],
                " / ".join(f"{x['cpu_pct']:.0f}" for x in procs), " / ".join(f"{x['wait_pct']:.0f}" for x in procs),
                " / ".join(f"{x['rss_mb']:.0f}" for x in procs),
                "-" if p.get("cpu_ms_per_delivery") is None else f"{p['cpu_ms_per_delivery']:.2f}",
                f"{others['redis']['cpu_pct']:.0f}",
                " / ".join(f"{v['cpu_pct']:.0f}" for k, v in others.items() if k.startswith("fleet")),
            ])  # fmt: skip
        print()
        print(harness.table(
            "Broadcast latency, two processes on one Redis (ms from the patch's entry in the Redis stream)",
            ["viewers", "loaded", "patches/s", "all p50", "all p99", "all max", "each p50", "each p99", "missed",
             "CPU % (p1 / p2)", "CPU wait %", "RSS MB (p1 / p2)", "CPU ms/delivery", "redis CPU %", "fleets CPU %"],
            rows,
        ))  # fmt: skip
        for p in data["broadcast"]["points"]:
            top = list(p["redis_commands_per_s"].items())[:6]
            print(f"Redis commands/s at {p['viewers']} viewers: " + ", ".join(f"{k} {v:g}" for k, v in top))
        waits = [v["wait_pct"] for p in data["broadcast"]["points"] for k, v in p["processes"].items()
                 if k.startswith("process")]  # fmt: skip
        if waits and max(waits) > 20:
            load = os.getloadavg()[0]
            print(f"NOTE: the dashboards' event loops waited for a CPU up to {max(waits):.0f} % of the time "
                  f"(load average {load:.1f} on {os.cpu_count()} CPUs): figures of the machine too")  # fmt: skip
        leader = data["broadcast"].get("leader", 0) + 1
        print(f"all: until every viewer had the patch; each: every delivery; process {leader} leads")
    if "docker" in data:
        rows = [
            [r["processes"], f"{r['seconds']:.0f}", f"{r['total']:.2f}", f"{r['simulator_served']:.2f}",
             r["processes_asking"], " / ".join(f"{x:.2f}" for x in r["per_process"])]
            for r in data["docker"]["rows"]
        ]  # fmt: skip
        print()
        print(harness.table("Docker requests/s by processes on one Redis (same churn)",
                            ["processes", "s", "requests/s (metrics)", "simulator served/s", "asking",
                             "per process"], rows))  # fmt: skip
        one, three = data["docker"]["rows"][0]["total"], data["docker"]["rows"][-1]["total"]
        if one > 0:
            change = 100 * (three - one) / one
            print(f"3 vs 1 process: {change:+.1f} %; target within 10 %: {'met' if abs(change) <= 10 else 'NOT met'}")
    if "storm" in data:
        rows = [
            [r["processes"], f"{r['loaded']}/{r['viewers']}", "-" if r["seconds"] is None else f"{r['seconds']:.1f}",
             "-" if r["load_p50_s"] is None else f"{r['load_p50_s']:.1f}",
             " / ".join(f"{x:.0f}" for x in r["rss_before_mb"]), " / ".join(f"{x:.0f}" for x in r["peak_rss_mb"]),
             " / ".join(f"{x:.0f}" for x in r["cpu_pct"]), " / ".join(f"{x:.0f}" for x in r["wait_pct"]),
             f"{r['sent_mb']:.0f}", f"{r['sent_per_viewer_kb']:.0f}",
             f"{r['payload_mb']:.0f}", "RSS limit" if r["rss_abort"] else ""]
            for r in data["storm"]["runs"]
        ]  # fmt: skip
        print()
        print(harness.table("Reconnect storm: viewers connecting at once to fresh processes",
                            ["processes", "hold the model", "all, s", "p50, s", "RSS before MB", "peak RSS MB",
                             "CPU %", "CPU wait %", "sent MB", "sent/viewer KB", "payload MB", "stopped"],
                            rows))  # fmt: skip
        for r in data["storm"]["runs"]:
            ok = r["loaded"] == r["viewers"] and r["seconds"] is not None and r["seconds"] <= 30
            ok = ok and max(r["peak_rss_mb"]) <= 1024
            print(f"{r['processes']} process(es): target all within 30 s and RSS <= 1 GB: {'met' if ok else 'NOT met'}"
                  + (f"; errors {r['errors']}" if any(r["errors"]) else ""))  # fmt: skip


def print_logged(data: dict[str, Any]) -> None:
    """What the dashboards logged as warnings or errors, per run and process, most frequent first."""
    for run in RUNS:
        for i, logged in enumerate(data.get(run, {}).get("logged", [])):
            if logged:
                print(f"\n{run}, process {i + 1} logged:")
                for line, n in sorted(logged.items(), key=lambda kv: -kv[1])[:8]:
                    print(f"  {n:6d}  {line}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    harness.interrupt_on_sigterm()
    raise_open_files()
    data: dict[str, Any] = {"benchmark": "scale_out", "machine_at_start": harness.machine()}
    try:
        if "broadcast" in args.runs:
            data["broadcast"] = asyncio.run(broadcast(args))
        if "docker" in args.runs:
            data["docker"] = asyncio.run(docker_load(args))
        if "storm" in args.runs:
            data["storm"] = asyncio.run(storm(args))
    finally:
        report(data)
        print_logged(data)
        for path in sorted(args.profile.glob("serve-*.prof")) if args.profile else []:
            print(f"\n{path}\n{profile_summary(path)}")
        data.update(machine=harness.machine(), settings={k: v for k, v in vars(args).items()})
        print(f"results: {harness.save('scale_out', data)}")
    return 0
