"""The grid at scale in real headless Chromium: the simulator at 500 nodes / 20,000 tasks, and the lab.

The dashboard runs under daphne with DOCKER_HOST pointing at the simulator's socket (the simulator
in a process of its own). Measured with the Chrome DevTools Protocol (a CDP session of the page):

  first render   navigation start -> window.swarmReady (the server-rendered page, then the whole
                 model over the websocket, applied); with the HTML size, time to first byte,
                 DOMContentLoaded and first contentful paint; several loads
  main thread    busy share = delta Performance.getMetrics TaskDuration / wall time, idle and under
                 churn (each failure also starts a replacement task, which steps through its states):
                   "any node"  10 failures/s anywhere: the manager hears of most of them only at
                               the periodic reconcile, so they arrive in bursts
                   "node 1"    failures on the manager's own node: each is an event, so a steady
                               stream of small patches; 2.5 failures/s (about 10 task changes/s
                               on the wire) and 10 failures/s (about 40)
                 then a Chrome trace of each kind (main-thread self time by trace event, and the
                 cost of each rendering update)
  scrolling      the grid scrolled to points along its width: time until the column in the
                 middle of the view shows its boxes, and how many boxes the page holds then
  wire           Network.webSocketFrameReceived payload sizes: bytes per task change under churn,
                 and the frames of single changes (a task on node 1 fails; then its replacement
                 steps through its states one task change at a time)
  JS heap        Performance.getMetrics JSHeapUsedSize after the first render and after the churn
  dashboard CPU  the daphne process's CPU share in each phase (/proc/PID/stat)

Then the same first-render measure on a small swarm on the lab (3 nodes).

    .venv/bin/python -m bench.grid_scale [--quick] [--only sim|lab] [--nodes 500] [--tasks 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from typing import Any

from bench import harness

READY_STAMP = """
(() => {
  let ready = false;
  Object.defineProperty(window, "swarmReady", {
    configurable: true,
    get() { return ready; },
    set(value) {
      ready = value;
      if (value === true && window.__readyAt === undefined) window.__readyAt = performance.now();
    },
  });
})();
"""

LOAD_FIGURES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return {
    ready_ms: window.__readyAt,
    ttfb_ms: nav.responseStart,
    html_done_ms: nav.responseEnd,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    first_contentful_paint_ms: fcp ? fcp.startTime : null,
    html_bytes: nav.decodedBodySize,
    html_transfer_bytes: nav.transferSize,
    task_boxes: document.querySelectorAll("#grid [data-task-id]").length,
    node_columns: document.querySelectorAll("#grid section.node[data-node-id]:not(.unassigned)").length,
  };
}"""

# scroll the grid to a fraction of its width; how long until the column in the middle of the view
# holds its boxes (then one more frame, to paint them), and how many boxes the page holds
SCROLL_FILL = """async (fraction) => {
  const g = document.getElementById("grid");
  const t0 = performance.now();
  g.scrollLeft = fraction * (g.scrollWidth - g.clientWidth);
  const mid = g.scrollLeft + g.clientWidth / 2;
  const nodes = [...g.children].filter((s) => !s.hidden && s.dataset.nodeId);
  const col = nodes.filter((s) => s.offsetLeft <= mid).pop() || nodes[0];
  const id = col.dataset.nodeId;
  const want = [...window.swarm.tasks.values()].filter((t) => t.node_id === id && t.state === "running").length;
  const have = () => col.querySelectorAll("[data-task-id][data-state='running']").length;
  while (have() < want && performance.now() - t0 < 5000) await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(r));
  return { ms: performance.now() - t0, shown: have(), want,
    boxes: document.querySelectorAll("#grid [data-task-id]").length,
    filled: [...g.children].filter((s) => s.querySelector("[data-task-id]")).length };
}"""

PHASE_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "JSHeapUsedSize", "Nodes")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def page_loads(browser: Any, dash: harness.Dashboard, loads: int) -> list[dict[str, Any]]:
    context = await harness.grid_context(browser, dash)
    await context.add_init_script(READY_STAMP)
    results = []
    try:
        for i in range(loads):
            page = await context.new_page()
            await page.goto(dash.url + "/", wait_until="commit", timeout=120000)
            await page.wait_for_function("window.swarmReady === true", timeout=120000)
            figures = await page.evaluate(LOAD_FIGURES)
            figures["load"] = "first (cold cache)" if i == 0 else f"#{i + 1}"
            results.append(figures)
            print(f"  load {i + 1}: ready at {figures['ready_ms']:.0f} ms, {figures['task_boxes']} boxes",
                  file=sys.stderr, flush=True)  # fmt: skip
            await page.close()
    finally:
        await context.close()
    return results


class Wire:
    """Every websocket frame the page receives (CDP), with its size and the task changes it carries."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.extensions = ""

    def on_frame(self, params: dict[str, Any]) -> None:
        payload = params["response"]["payloadData"]
        size = len(payload.encode())
        entry: dict[str, Any] = {"t": time.monotonic(), "bytes": size, "type": "?", "upserts": 0, "removed": 0}
        try:
            message = json.loads(payload)
        except ValueError:
            self.frames.append(entry)
            return
        entry["type"] = message.get("type", "?")
        if entry["type"] == "patch":
            entry["upserts"] = len(message["tasks"]["upsert"])
            entry["removed"] = len(message["tasks"]["removed"])
            entry["other"] = len(message["nodes"]["upsert"]) + len(message["services"]["upsert"])
            entry["task_ids"] = [t["id"] for t in message["tasks"]["upsert"]]
        self.frames.append(entry)

    def on_handshake(self, params: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in params["response"].get("headers", {}).items()}
        self.extensions = headers.get("sec-websocket-extensions", "")

    def patches(self, since: float, until: float) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "patch" and since <= f["t"] <= until]


async def metrics(cdp: Any) -> dict[str, float]:
    answer = await cdp.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in answer["metrics"]}


async def phase(
    name: str, cdp: Any, wire: Wire, dash: harness.Dashboard, seconds: float, drive: Any = None
) -> dict[str, Any]:
    assert dash.proc is not None
    before = await metrics(cdp)
    cpu0, t0 = cpu_seconds(dash.proc.pid), time.monotonic()
    scenery = asyncio.create_task(drive()) if drive is not None else None
    await asyncio.sleep(seconds)
    if scenery is not None:
        scenery.cancel()
        await asyncio.gather(scenery, return_exceptions=True)
    t1 = time.monotonic()
    after = await metrics(cdp)
    cpu1 = cpu_seconds(dash.proc.pid)
    wall = t1 - t0
    layout_style = sum(after[m] - before[m] for m in ("LayoutDuration", "RecalcStyleDuration"))
    patches = wire.patches(t0, t1)
    changes = sum(f["upserts"] + f["removed"] for f in patches)
    result = {
        "phase": name,
        "seconds": wall,
        "busy_share": (after["TaskDuration"] - before["TaskDuration"]) / wall,
        "script_share": (after["ScriptDuration"] - before["ScriptDuration"]) / wall,
        "layout_style_share": layout_style / wall,
        "heap_mb": after["JSHeapUsedSize"] / 1e6,
        "dom_nodes": after["Nodes"],
        "patches": len(patches),
        "task_changes": changes,
        "task_changes_per_s": changes / wall,
        "patch_bytes": sum(f["bytes"] for f in patches),
        "bytes_per_task_change": sum(f["bytes"] for f in patches) / changes if changes else None,
        "dashboard_cpu_share": (cpu1 - cpu0) / wall,
    }
    print(f"  {name}: busy {result['busy_share']:.1%}, {changes} task changes in {len(patches)} patches, "
          f"dashboard CPU {result['dashboard_cpu_share']:.0%}", file=sys.stderr, flush=True)  # fmt: skip
    return result


LIFECYCLE = "WebFrameWidgetImpl::UpdateLifecycle"  # style, layout, pre-paint, paint of one frame
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "blink"]


def self_times(trace: Any) -> tuple[dict[str, float], float]:
    """Self time (ms) per event name on the busiest renderer main thread, and the traced span (ms)."""
    events = trace.get("traceEvents", trace if isinstance(trace, list) else [])
    mains = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
             and e.get("args", {}).get("name") == "CrRendererMain"}  # fmt: skip
    by_thread: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key in mains and e.get("ph") == "X" and "dur" in e:
            by_thread.setdefault(key, []).append(e)
    if not by_thread:
        return {}, 0.0
    spans = max(by_thread.values(), key=len)
    spans.sort(key=lambda e: (e["ts"], -e["dur"]))
    selfs: dict[str, float] = {}
    stack: list[tuple[float, str, list[float]]] = []  # (end, name, [children's time])
    all_ts = [e["ts"] for e in events if "ts" in e and e.get("ph") != "M"]
    span_ms = (max(all_ts) - min(all_ts)) / 1000 if all_ts else 0.0

    def close_until(ts: float) -> None:
        while stack and stack[-1][0] <= ts:
            _end, name, children = stack.pop()
            selfs[name] = selfs.get(name, 0.0) - children[0]

    for e in spans:
        close_until(e["ts"])
        dur = e["dur"] / 1000
        selfs[e["name"]] = selfs.get(e["name"], 0.0) + dur
        if stack:
            stack[-1][2][0] += dur
        stack.append((e["ts"] + e["dur"], e["name"], [0.0]))
    close_until(float("inf"))
    return selfs, span_ms


async def traced(browser: Any, page: Any, seconds: float, drive: Any) -> dict[str, Any]:
    """A Chrome trace of the page while ``drive`` runs: main-thread self time by event name."""
    await browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
    scenery = asyncio.create_task(drive())
    try:
        await asyncio.sleep(seconds)
    finally:
        scenery.cancel()
        await asyncio.gather(scenery, return_exceptions=True)
        raw = await browser.stop_tracing()
    trace = json.loads(raw)
    selfs, span_ms = self_times(trace)
    top = sorted(selfs.items(), key=lambda kv: -kv[1])[:12]
    busy = sum(selfs.values())  # the time covered by any event on the main thread
    updates = [e["dur"] / 1000 for e in trace.get("traceEvents", []) if e.get("name") == LIFECYCLE and "dur" in e]
    heavy = [ms for ms in updates if ms >= 5]  # a frame that had something to render
    return {"span_ms": span_ms, "top_self_ms": top, "busy_ms": busy, "lifecycle_updates_ms": heavy}


async def fail_local_every(sim: harness.SimHost, rate: float) -> None:
    """Task failures on node 1 at ``rate`` per second, until cancelled."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(100_000):
        await asyncio.to_thread(sim.call, "fail", local=True)
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - loop.time()))


async def single_changes(sim: harness.SimHost, wire: Wire, count: int) -> list[dict[str, Any]]:
    """One failure at a time on node 1; the frames that carry its task and its replacement."""
    found = []
    for _ in range(count):
        t0 = time.monotonic()
        failed = await asyncio.to_thread(sim.call, "fail", local=True)
        await asyncio.sleep(2.0)
        mine = {failed["failed"], failed["replacement"]}
        for frame in wire.patches(t0, time.monotonic()):
            ids = set(frame.get("task_ids", []))
            if ids & mine:
                found.append({k: v for k, v in frame.items() if k != "task_ids"} | {"ours": len(ids & mine)})
        await asyncio.sleep(0.5)
    return found


async def as_deployed(browser: Any, dash: harness.Dashboard, wait: float) -> dict[str, Any]:
    """One load with daphne's default options: does the page become ready, and if not, why."""
    context = await harness.grid_context(browser, dash)
    await context.add_init_script(READY_STAMP)
    sockets = Counter[str]()
    try:
        page = await context.new_page()

        def on_socket(ws: Any) -> None:
            sockets["opened"] += 1
            ws.on("close", lambda *_: sockets.update(["closed"]))

        page.on("websocket", on_socket)
        await page.goto(dash.url + "/", wait_until="commit", timeout=120000)
        try:
            await page.wait_for_function("window.swarmReady === true", timeout=wait * 1000)
            ready = True
        except Exception:  # playwright's TimeoutError
            ready = False
        boxes = await page.evaluate("() => document.querySelectorAll('#grid [data-task-id]').length")
    finally:
        await context.close()
    log = dash.log.read_text(errors="replace")
    errors = sorted(
        {line.strip() for line in log.splitlines() if "PayloadExceededError" in line or "exceeding" in line}
    )
    return {
        "ready": ready,
        "waited_s": wait,
        "server_rendered_boxes": boxes,
        "websockets_opened": sockets["opened"],
        "websockets_closed": sockets["closed"],
        "daphne_errors": errors[:3],
    }


async def run_sim(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with harness.SimHost(nodes=args.nodes, tasks=args.tasks) as sim:
        out["simulator"] = sim.call("info")
        with harness.Dashboard(sim.docker_host) as dash:
            async with harness.chromium() as browser:
                out["as_deployed"] = await as_deployed(browser, dash, args.deployed_wait)
        print(f"  as deployed: ready={out['as_deployed']['ready']}", file=sys.stderr, flush=True)
        daphne_args = [] if out["as_deployed"]["ready"] else ["--websocket-max-message-size", str(args.max_message)]
        out["daphne_args"] = daphne_args
        with harness.Dashboard(sim.docker_host, daphne_args=daphne_args) as dash:
            async with harness.chromium() as browser:
                out["loads"] = await page_loads(browser, dash, args.loads)
                context = await harness.grid_context(browser, dash)
                await context.add_init_script(READY_STAMP)
                page = await context.new_page()
                cdp = await context.new_cdp_session(page)
                wire = Wire()
                cdp.on("Network.webSocketFrameReceived", wire.on_frame)
                cdp.on("Network.webSocketHandshakeResponseReceived", wire.on_handshake)
                await cdp.send("Network.enable")
                await cdp.send("Performance.enable")
                await page.goto(dash.url + "/", wait_until="commit", timeout=120000)
                await page.wait_for_function("window.swarmReady === true", timeout=120000)
                snapshot_frames = [f for f in wire.frames if f["type"] in ("snapshot", "tasks")]
                out["snapshot_frames"] = {
                    "count": len(snapshot_frames),
                    "bytes": sum(f["bytes"] for f in snapshot_frames),
                    "largest": max((f["bytes"] for f in snapshot_frames), default=0),
                }
                out["heap_after_first_render_mb"] = (await metrics(cdp))["JSHeapUsedSize"] / 1e6
                await asyncio.sleep(args.settle)
                await cdp.send("HeapProfiler.collectGarbage")  # the load's garbage is not the churn's cost
                phases = [await phase("idle", cdp, wire, dash, args.seconds)]

                async def churn_any() -> None:
                    await asyncio.to_thread(sim.call, "churn", rate=args.rate)
                    try:
                        await asyncio.Event().wait()
                    finally:
                        await asyncio.to_thread(sim.call, "churn", rate=0)

                phases.append(await phase(f"any node, {args.rate:g} failures/s", cdp, wire, dash, args.seconds,
                                          churn_any))  # fmt: skip
                for rate in (args.steady_rate, args.rate):
                    await asyncio.sleep(args.settle)
                    phases.append(await phase(f"node 1, {rate:g} failures/s", cdp, wire, dash, args.seconds,
                                              lambda rate=rate: fail_local_every(sim, rate)))  # fmt: skip
                out["phases"] = phases
                await asyncio.sleep(args.settle)
                out["trace_node1"] = await traced(browser, page, args.trace_seconds,
                                                  lambda: fail_local_every(sim, args.steady_rate))  # fmt: skip
                await asyncio.sleep(args.settle)
                out["trace_any"] = await traced(browser, page, args.trace_seconds * 2, churn_any)
                await asyncio.sleep(args.settle)
                out["scrolling"] = [await page.evaluate(SCROLL_FILL, i / 10) for i in (10, 3, 7, 0, 5, 9, 1, 6, 2, 8)]
                await asyncio.sleep(args.settle)
                out["single_changes"] = await single_changes(sim, wire, args.singles)
                await cdp.send("HeapProfiler.collectGarbage")
                out["heap_after_gc_mb"] = (await metrics(cdp))["JSHeapUsedSize"] / 1e6
                out["websocket_extensions"] = wire.extensions
                out["page_still_ready"] = await page.evaluate("() => window.swarmReady === true")
                await context.close()
    return out


async def run_lab(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with harness.lab("scale") as lab:
        api = harness.DockerAPI(lab.sock(1))
        for replicas in (6, 3, 2):
            await asyncio.to_thread(api.create_service, f"small-{uuid.uuid4().hex[:6]}", replicas)
        for _ in range(300):
            tasks = await asyncio.to_thread(api.request, "GET", "/tasks")
            if sum(1 for t in tasks if t["Status"]["State"] == "running") == 11:
                break
            await asyncio.sleep(0.1)
        api.close()
        with harness.Dashboard(lab.docker_host) as dash:
            async with harness.chromium() as browser:
                out["loads"] = await page_loads(browser, dash, args.loads)
    return out


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grid_scale", description=__doc__.split("\n")[0])
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


if __name__ == "__main__":
    sys.exit(main())
