"""The runs: the simulator at scale (loads, phases, traces, scrolling, single changes) and the lab."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from typing import Any

from bench import harness
from bench.grid_scale.cdp import Wire, metrics, phase, traced
from bench.grid_scale.probes import LOAD_FIGURES, READY_STAMP, SCROLL_FILL


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
