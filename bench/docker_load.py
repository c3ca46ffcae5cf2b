"""Docker requests per second by endpoint, from the dashboard's own counter (GET /api/metrics).

A 3-node lab, the dashboard under daphne with its default settings, and these phases:
  idle      nothing changes, no viewer, for 60 s
  churn     one service scaled every second (1, 2, 3, 4, 3, 2, ...) for 60 s, no viewer
  viewers   0, 1, 10 and 50 viewers open, each level measured idle and under the same churn
            (30 s each); a viewer is a websocket client on /ws/swarm (signed-in session cookie,
            Origin header) or a real Chromium page of the grid: level 1 is one Chromium page,
            levels 10 and 50 are two Chromium pages plus websocket clients.

The point: Docker load does not grow with the number of viewers.

    .venv/bin/python -m bench.docker_load [--quick] [--reconcile S] [--liveness S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench import harness

CHURN_REPLICAS = (1, 2, 3, 4, 3, 2)


@dataclass
class Phase:
    name: str
    viewers: int
    seconds: float
    rates: dict[str, float]
    scales: int = 0
    patches_per_viewer: float = 0.0
    page_seqs: list[int] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.rates.values())


async def churn(api: harness.DockerAPI, service_id: str, seconds: float) -> int:
    """Scale every second for ``seconds``; returns how many scale calls were made."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    done = 0
    for i in range(int(seconds)):
        await asyncio.to_thread(api.scale, service_id, CHURN_REPLICAS[i % len(CHURN_REPLICAS)])
        done += 1
        await asyncio.sleep(max(0.0, start + i + 1 - loop.time()))
    return done


async def measure_phase(
    dash: harness.Dashboard, name: str, viewers: int, seconds: float, work: Any = None
) -> tuple[dict[str, float], float, int]:
    before = await asyncio.to_thread(dash.requests)
    t0 = time.monotonic()
    scales = 0
    if work is None:
        await asyncio.sleep(seconds)
    else:
        scales = await work
    elapsed = time.monotonic() - t0
    after = await asyncio.to_thread(dash.requests)
    rates = harness.request_rates(before, after, elapsed)
    print(f"  {name:6s} {viewers:3d} viewers: {sum(rates.values()):.3f} Docker requests/s over {elapsed:.0f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    return rates, elapsed, scales


async def run(lab: Any, args: argparse.Namespace) -> list[Phase]:
    api = harness.DockerAPI(lab.sock(1))
    steady = await asyncio.to_thread(api.create_service, f"steady-{uuid.uuid4().hex[:6]}", 3)
    scaled = await asyncio.to_thread(api.create_service, f"scaled-{uuid.uuid4().hex[:6]}", 1)
    env = {}
    if args.reconcile:
        env["SWARM_RECONCILE_SECONDS"] = str(args.reconcile)
    if args.liveness:
        env["SWARM_EVENTS_LIVENESS_SECONDS"] = str(args.liveness)
    phases: list[Phase] = []
    dash = harness.Dashboard(lab.docker_host, env=env)
    try:
        await asyncio.to_thread(dash.start)
        await asyncio.sleep(args.quiet)  # the services' start-up settles
        rates, elapsed, _ = await measure_phase(dash, "idle", 0, args.seconds)
        phases.append(Phase("idle", 0, elapsed, rates))
        rates, elapsed, scales = await measure_phase(dash, "churn", 0, args.seconds,
                                                     churn(api, scaled, args.seconds))  # fmt: skip
        phases.append(Phase("churn", 0, elapsed, rates, scales))
        async with harness.chromium() as browser:
            for level in args.levels:
                phases += await viewer_level(dash, browser, api, scaled, level, args)
    finally:
        await asyncio.to_thread(dash.stop)
        for service_id in (steady, scaled):
            await asyncio.to_thread(api.remove_service, service_id)
        api.close()
    return phases


async def viewer_level(
    dash: harness.Dashboard, browser: Any, api: harness.DockerAPI, scaled: str, level: int, args: argparse.Namespace
) -> list[Phase]:
    pages_wanted = min(level, 2)
    stop = asyncio.Event()
    viewers = [harness.WsViewer() for _ in range(level - pages_wanted)]
    tasks = [asyncio.create_task(harness.ws_viewer(dash, v, stop)) for v in viewers]
    contexts = []
    pages = []
    phases = []
    try:
        for _ in range(pages_wanted):
            context = await harness.grid_context(browser, dash)
            contexts.append(context)
            page = await context.new_page()
            await page.goto(dash.url + "/")
            await page.wait_for_function("window.swarmReady === true", timeout=30000)
            pages.append(page)
        for _ in range(300):
            if all(v.snapshot_done for v in viewers):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(args.quiet)
        for name, work in (("idle", None), ("churn", churn(api, scaled, args.viewer_seconds))):
            patches_before = sum(v.patches for v in viewers)
            rates, elapsed, scales = await measure_phase(dash, name, level, args.viewer_seconds, work)
            patches = sum(v.patches for v in viewers) - patches_before
            seqs = [int(await p.evaluate("() => Number(document.body.dataset.seq)")) for p in pages]
            phase = Phase(name, level, elapsed, rates, scales, patches / len(viewers) if viewers else 0.0, seqs)
            phases.append(phase)
            await asyncio.sleep(args.quiet)
        dead = [v.closed for v in viewers if v.closed]
        if dead:
            print(f"  {len(dead)} websocket viewers were closed: {sorted(set(dead))}", file=sys.stderr)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for context in contexts:
            await context.close()
    return phases


def report(phases: list[Phase], args: argparse.Namespace) -> dict[str, Any]:
    endpoints = sorted({k for p in phases for k, v in p.rates.items() if v > 0})
    rows = []
    for i, p in enumerate(phases):
        label = p.name if i < 2 else f"{p.name}, {p.viewers} viewers"
        rows.append([label, p.seconds, p.scales, *(p.rates.get(e, 0.0) for e in endpoints), p.total])
    print()
    headers = ["phase", "s", "scales", *endpoints, "total/s"]
    print(harness.table("Docker requests per second by endpoint (the dashboard's own count)", headers,
                        [[r[0], r[1], r[2], *(f"{x:.3f}" for x in r[3:])] for r in rows]))  # fmt: skip
    idle = phases[0].total
    print(f"\nidle: {idle:.3f} requests/s; target <= 0.2: {'met' if idle <= 0.2 else 'NOT met'}")
    for name in ("idle", "churn"):
        by_level = {p.viewers: p.total for p in phases[2:] if p.name == name}
        if by_level:
            spread = max(by_level.values()) - min(by_level.values())
            print(f"{name} with viewers: " + ", ".join(f"{n} -> {r:.3f}/s" for n, r in by_level.items())
                  + f" (spread {spread:.3f}/s)")  # fmt: skip
    live = [(p.viewers, p.patches_per_viewer, p.page_seqs) for p in phases[2:] if p.name == "churn"]
    print("viewers kept up under churn (patches per websocket viewer; seq of each Chromium page): "
          + "; ".join(f"{n}: {pp:.0f}, {seqs}" for n, pp, seqs in live))  # fmt: skip
    return {
        "benchmark": "docker_load",
        "machine": harness.machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "levels"} | {"levels": list(args.levels)},
        "phases": [p.__dict__ | {"total": p.total} for p in phases],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.docker_load", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="idle and churn phases (default 60)")
    parser.add_argument("--viewer-seconds", type=float, default=30, help="each viewer phase (default 30)")
    parser.add_argument("--quick", action="store_true", help="15 s phases, 10 s viewer phases")
    parser.add_argument("--reconcile", type=float, default=None, help="SWARM_RECONCILE_SECONDS (default: unset)")
    parser.add_argument("--liveness", type=float, default=None, help="SWARM_EVENTS_LIVENESS_SECONDS (default: unset)")
    args = parser.parse_args(argv)
    args.levels = (0, 1, 10, 50)
    args.quiet = 6.0
    if args.quick:
        args.seconds, args.viewer_seconds, args.quiet = 15, 10, 4.0
    harness.need_root("bench.docker_load")
    harness.need_chromium()
    harness.interrupt_on_sigterm()
    started = harness.machine()
    with harness.lab("load") as lab:
        phases = asyncio.run(run(lab, args))
    data = report(phases, args)
    data["machine_at_start"] = started
    print(f"results: {harness.save('docker_load', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
