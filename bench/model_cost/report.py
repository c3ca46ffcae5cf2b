"""The figures of a model_cost run, as tables and the target met or not."""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

from bench import harness


def report(data: dict[str, Any], args: argparse.Namespace) -> None:
    info = data["simulator"]
    print(f"\nsimulator: {info['nodes']} nodes, {info['services']} services, {info['tasks']} tasks")
    print(f"first full sync: {data['first_sync']['wall_ms']:.0f} ms wall, {data['first_sync']['cpu_ms']:.0f} ms CPU; "
          f"its patch {data['first_sync']['patch_bytes'] / 1e6:.1f} MB")  # fmt: skip
    rows = []
    for group in ("changes", "reconciles"):
        for kind, records in data[group].items():
            walls = harness.summary([r["wall_ms"] for r in records])
            cpus = harness.summary([r["cpu_ms"] for r in records])
            rows.append([kind, walls["n"], walls["p50"], walls["p95"], walls["max"], cpus["p50"]])
    print()
    print(harness.table("processing cost per change (ms)", ["what", "n", "wall p50", "wall p95", "wall max",
                                                            "CPU p50"], rows))  # fmt: skip
    for kind, records in data["reconciles"].items():
        stalls = harness.summary([r["loop_stall_ms"] for r in records])
        print(f"{kind} reconcile: the event loop's longest stall p50 {stalls['p50']:.0f} ms, "
              f"max {stalls['max']:.0f} ms (n={stalls['n']})")  # fmt: skip
    stage_rows = []
    for group in ("changes", "reconciles"):
        for kind, records in data[group].items():
            stages: dict[str, list[float]] = defaultdict(list)
            for r in records:
                for name, ms in r["stages_cpu_ms"].items():
                    stages[name].append(ms)
            for name, values in stages.items():
                if name == "GET + JSON decode" and group == "changes":
                    continue  # inside the re-list
                stage_rows.append([kind, name, harness.summary(values)["p50"]])
    print()
    print(harness.table("where the CPU goes (p50 ms per stage)", ["what", "stage", "CPU p50"], stage_rows))
    size_rows = []
    for kind, records in data["changes"].items():
        sizes = [r["patch_bytes"] for r in records]
        upserts = [r["task_upserts"] for r in records]
        s = harness.summary(sizes)
        size_rows.append([kind, s["n"], s["p50"], s["max"], harness.summary(upserts)["p50"]])
    print()
    print(harness.table("patch size on the wire (bytes, JSON text as sent to the group)",
                        ["change", "n", "p50", "max", "task upserts p50"], size_rows))  # fmt: skip
    r = data["full_relist_breakdown"]
    print(
        f"\nGET /tasks of all {r['tasks']} tasks: {r['bytes'] / 1e6:.1f} MB; read {r['read_ms']:.0f} ms (simulator "
        f"serving included), json.loads {r['json_loads_ms']:.0f} ms, parse_task {r['parse_task_ms']:.0f} ms"
    )
    e2e = harness.summary(data["event_to_patch_ms"])
    if e2e.get("n"):
        print(
            f"\nrunning watcher, failure on node 1 -> patch published: p50 {e2e['p50']:.0f} ms, "
            f"p95 {e2e['p95']:.0f} ms, max {e2e['max']:.0f} ms (n={e2e['n']}; includes the 20 ms coalescing)"
        )
    one = harness.summary([r["wall_ms"] for r in data["changes"]["1 task (state step)"]])
    two = harness.summary([r["wall_ms"] for r in data["changes"]["2 tasks (failure + replacement)"]])
    worst = max(one["p50"], two["p50"])
    print(
        f"target: one task change at {info['tasks']} tasks processed in <= 20 ms: "
        f"{'met' if worst <= 20 else 'NOT met'} (p50 {one['p50']:.1f} / {two['p50']:.1f} ms)"
    )
    if data["profile_one_change"]:
        print("\ncProfile of 10 one-change passes (by own time):")
        lines = data["profile_one_change"].splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join(lines[max(0, start - 3) : start + 16]))
    print(f"peak RSS of this process: {data['max_rss_mb']:.0f} MB")
