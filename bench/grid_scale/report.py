"""The figures of a grid_scale run, as tables and targets met or not."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from bench import harness


def report(data: dict[str, Any], args: argparse.Namespace) -> None:
    for where in ("sim", "lab"):
        if where not in data:
            continue
        loads = data[where]["loads"]
        title = (
            f"page load to first full render, simulator ({data['sim']['simulator']['tasks']} tasks, "
            f"{data['sim']['simulator']['nodes']} nodes)"
            if where == "sim"
            else "page load to first full render, lab (3 nodes, 11 tasks)"
        )
        rows = [
            [
                x["load"],
                x["ttfb_ms"],
                x["html_done_ms"],
                x["first_contentful_paint_ms"] or 0.0,
                x["dom_content_loaded_ms"],
                x["ready_ms"],
                x["html_bytes"] / 1e6,
                x["task_boxes"],
            ]
            for x in loads
        ]
        print()
        print(harness.table(title, ["load", "TTFB ms", "HTML done ms", "FCP ms", "DCL ms", "swarmReady ms",
                                    "HTML MB", "boxes"], rows))  # fmt: skip
        ready = harness.summary([x["ready_ms"] for x in loads])
        print(f"swarmReady: p50 {ready['p50']:.0f} ms, max {ready['max']:.0f} ms over {ready['n']} loads")
        if where == "sim":
            print(f"target first render at {data['sim']['simulator']['tasks']} tasks <= 1.5 s: "
                  f"{'met' if ready['p50'] <= 1500 else 'NOT met'} (p50)")  # fmt: skip
    if "sim" not in data:
        return
    sim = data["sim"]
    deployed = sim["as_deployed"]
    print(f"\nas deployed (daphne's default options): page ready within {deployed['waited_s']:.0f} s: "
          f"{deployed['ready']}; {deployed['server_rendered_boxes']} server-rendered boxes; websocket opened "
          f"{deployed['websockets_opened']}x, closed {deployed['websockets_closed']}x")  # fmt: skip
    for line in deployed["daphne_errors"]:
        print(f"  daphne: {line[:200]}")
    if sim["daphne_args"]:
        print(
            f"the figures below were taken with daphne {' '.join(sim['daphne_args'])} (a measurement-only "
            "workaround; the deployed dashboard does not pass it)"
        )
    snap = sim["snapshot_frames"]
    print(
        f"\nthe model over the websocket on load: {snap['count']} frames, {snap['bytes'] / 1e6:.1f} MB, "
        f"largest {snap['largest'] / 1e3:.0f} KB; negotiated extensions: {sim['websocket_extensions'] or 'none'}"
    )
    rows = []
    for p in sim["phases"]:
        per_change = p["bytes_per_task_change"]
        rows.append([p["phase"], p["seconds"], f"{p['busy_share']:.1%}", f"{p['script_share']:.1%}",
                     f"{p['layout_style_share']:.1%}", p["patches"], p["task_changes_per_s"],
                     "-" if per_change is None else f"{per_change:.0f}", f"{p['dashboard_cpu_share']:.0%}",
                     p["heap_mb"], int(p["dom_nodes"])])  # fmt: skip
    print()
    print(harness.table("main thread under churn (Chromium, CDP Performance metrics)",
                        ["phase", "s", "busy", "script", "layout+style", "patches", "task changes/s",
                         "bytes/task change", "daphne CPU", "heap MB", "DOM nodes"], rows))  # fmt: skip
    churn = [p for p in sim["phases"] if p["phase"] != "idle"]
    worst = max(p["busy_share"] for p in churn)
    print(f"target <= 10 % main thread busy under churn: {'met' if worst <= 0.10 else 'NOT met'} (worst {worst:.1%})")
    traces = (("trace_node1", f"node 1, {args.steady_rate:g} failures/s"), ("trace_any", f"any node, {args.rate:g}/s"))
    for key, label in traces:
        trace = sim.get(key)
        if not trace or not trace["span_ms"]:
            continue
        rows = [[name, ms, f"{ms / trace['span_ms']:.1%}"] for name, ms in trace["top_self_ms"]]
        print()
        print(harness.table(f"where the main thread's time goes, {label} "
                            f"(Chrome trace, {trace['span_ms'] / 1000:.1f} s, self time by event)",
                            ["trace event", "ms", "share of wall"], rows))  # fmt: skip
        updates = harness.summary(trace["lifecycle_updates_ms"])
        if updates.get("n"):
            print(f"rendering updates (UpdateLifecycle >= 5 ms): {updates['n']}, p50 {updates['p50']:.0f} ms, "
                  f"max {updates['max']:.0f} ms each")  # fmt: skip
    if "scrolling" in sim:
        scrolls = sim["scrolling"]
        rows = [[f"{s['ms']:.0f}", f"{s['shown']}/{s['want']}", s["boxes"], s["filled"]] for s in scrolls]
        print()
        print(harness.table("scrolling the grid (to 10 points along its width)",
                            ["column in view filled ms", "its running boxes", "boxes in page", "columns filled"],
                            rows))  # fmt: skip
        fill = harness.summary([s["ms"] for s in scrolls])
        print(f"column in view filled: p50 {fill['p50']:.0f} ms, max {fill['max']:.0f} ms; "
              f"at most {max(s['boxes'] for s in scrolls)} boxes in the page")  # fmt: skip
    singles = sim["single_changes"]
    by_count = Counter(f["upserts"] + f["removed"] for f in singles)
    rows = []
    for n in sorted(by_count):
        sizes = [f["bytes"] for f in singles if f["upserts"] + f["removed"] == n]
        s = harness.summary(sizes)
        rows.append([n, s["n"], s["p50"], s["max"]])
    print()
    print(harness.table("frames of single changes (a failure on node 1, then its replacement's steps)",
                        ["task changes in frame", "frames", "bytes p50", "bytes max"], rows))  # fmt: skip
    one = [f["bytes"] for f in singles if f["upserts"] + f["removed"] == 1]
    if one:
        s = harness.summary(one)
        print(
            f"target <= 1 KB on the wire per single task change: {'met' if s['max'] <= 1024 else 'NOT met'} "
            f"(p50 {s['p50']:.0f} B, max {s['max']:.0f} B)"
        )
    print(
        f"JS heap: {sim['heap_after_first_render_mb']:.1f} MB after first render, "
        f"{sim['heap_after_gc_mb']:.1f} MB after the churn and a GC"
    )
