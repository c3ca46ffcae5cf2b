"""What the Chrome DevTools Protocol measures: websocket frames, a phase's metrics, a trace's self times."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from bench import harness

PHASE_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "JSHeapUsedSize", "Nodes")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
