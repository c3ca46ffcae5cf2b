"""The wall screen's memory over a long churn, in real headless Chromium.

A simulated swarm (bench.simulator, in a process of its own) fails tasks at --churn per second,
each replaced in its slot; the dashboard (daphne) follows it, and one wall page in Chromium
follows the dashboard. Every --sample seconds the page's garbage is collected (CDP
HeapProfiler.collectGarbage) and its live JS heap read (Performance.getMetrics: JSHeapUsedSize),
with the page's DOM node and event listener counts. The dashboard is restarted --restarts times
on the way, as an upgrade would, so that the page's reconnect and resync run too.

The model grows by itself at first: every failure adds a task to its slot's history until the
slot holds Docker's limit (5), and failed tasks stay on screen for SWARM_FAILED_TASKS_MINUTES.
So the swarm is small enough for its history to fill within the warm-up, failed tasks show for
one minute, and the slope is fitted to the samples after --warmup minutes.

    .venv/bin/python -m bench.wall_soak [--minutes 15] [--warmup 5] [--churn 5] [--nodes 20] [--tasks 100]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

PAGE_STATE = """() => [window.swarm.tasks.size, document.querySelectorAll('[data-task-id]').length,
  Number(document.body.dataset.seq), document.body.dataset.conn]"""


@dataclass
class Sample:
    seconds: float
    heap: float  # bytes of live JS heap, right after a forced collection
    dom_nodes: int
    listeners: int
    model_tasks: int
    task_elements: int
    seq: int
    conn: str


async def sample(cdp: Any, page: Any, started: float) -> Sample:
    await cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    tasks, elements, seq, conn = await page.evaluate(PAGE_STATE)
    return Sample(
        seconds=time.monotonic() - started,
        heap=float(metrics["JSHeapUsedSize"]),
        dom_nodes=int(metrics["Nodes"]),
        listeners=int(metrics["JSEventListeners"]),
        model_tasks=int(tasks),
        task_elements=int(elements),
        seq=int(seq),
        conn=str(conn),
    )


def slope_per_minute(samples: list[Sample]) -> float:
    """Least-squares slope of the heap, in bytes per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [s.seconds / 60 for s in samples]
    ys = [s.heap for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def patches_applied(samples: list[Sample]) -> int:
    """Patches the page applied between the samples; a restarted dashboard numbers from 1 again."""
    return sum(b.seq - a.seq if b.seq >= a.seq else b.seq for a, b in itertools.pairwise(samples))


def summarize(samples: list[Sample], warmup_minutes: float) -> dict[str, float]:
    settled = [s for s in samples if s.seconds >= warmup_minutes * 60]
    third = max(1, len(settled) // 3)
    heaps = [s.heap for s in settled]
    return {
        "settled_samples": len(settled),
        "heap_slope_bytes_per_minute": slope_per_minute(settled),
        "heap_median_first_third_bytes": median(heaps[:third]) if heaps else 0.0,
        "heap_median_last_third_bytes": median(heaps[-third:]) if heaps else 0.0,
        "heap_min_settled_bytes": min(heaps, default=0.0),
        "heap_max_settled_bytes": max(heaps, default=0.0),
        "dom_nodes_min_settled": min((s.dom_nodes for s in settled), default=0),
        "dom_nodes_max_settled": max((s.dom_nodes for s in settled), default=0),
        "patches_applied": patches_applied(samples),
    }


async def wait_live(page: Any, timeout: float) -> None:
    await page.wait_for_function(
        "window.swarmReady === true && document.body.dataset.conn === 'live'", timeout=timeout * 1000
    )


async def soak(
    page: Any,
    *,
    seconds: float,
    every: float,
    restart: Any = None,
    restarts: int = 0,
    report: Any = None,
) -> list[Sample]:
    """Samples every ``every`` seconds for ``seconds``; ``restart()`` (blocking) is called ``restarts`` times."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    started = time.monotonic()
    restart_at = [seconds * (i + 1) / (restarts + 1) for i in range(restarts)]
    samples: list[Sample] = []
    while True:
        samples.append(await sample(cdp, page, started))
        if report is not None:
            report(samples[-1])
        if samples[-1].seconds >= seconds:
            return samples
        if restart_at and time.monotonic() - started >= restart_at[0]:
            restart_at.pop(0)
            await asyncio.to_thread(restart)
            await wait_live(page, 60)
        next_at = started + len(samples) * every
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def _print_sample(s: Sample) -> None:
    print(
        f"{s.seconds / 60:6.1f} min  heap {s.heap / 2**20:7.2f} MiB  dom {s.dom_nodes:6d}  listeners {s.listeners:4d}"
        f"  model {s.model_tasks:5d} tasks  on screen {s.task_elements:5d}  seq {s.seq:6d}  {s.conn}",
        flush=True,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, simulated_dashboard

    width, height = (int(x) for x in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="wall-soak-"))
    env = {"SWARM_FAILED_TASKS_MINUTES": str(args.failed_minutes)}
    with simulated_dashboard(folder, nodes=args.nodes, tasks=args.tasks, churn=args.churn, **env) as dash:
        token = dash.manage("kiosk", "create", "soak").split("kiosk=")[-1].strip()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(f"{dash.url}/wall/?kiosk={token}")
                await wait_live(page, 60)

                def restart() -> None:
                    dash.stop()
                    dash.start()

                samples = await soak(
                    page, seconds=args.minutes * 60, every=args.sample, restart=restart, restarts=args.restarts,
                    report=_print_sample,
                )  # fmt: skip
            finally:
                await browser.close()
    figures = summarize(samples, args.warmup)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "samples": [asdict(s) for s in samples],
        **figures,
        "page_errors": errors,
    }
    print(report_text(figures, args.warmup, len(errors)))
    return result


def report_text(f: dict[str, float], warmup: float, errors: int) -> str:
    mib = 2**20
    first, last = f["heap_median_first_third_bytes"], f["heap_median_last_third_bytes"]
    return (
        f"\nafter minute {warmup:g} ({f['settled_samples']:.0f} samples): heap {f['heap_min_settled_bytes'] / mib:.2f}"
        f"..{f['heap_max_settled_bytes'] / mib:.2f} MiB, median {first / mib:.3f} MiB in the first third and "
        f"{last / mib:.3f} MiB in the last; least-squares slope "
        f"{f['heap_slope_bytes_per_minute'] / 1024:+.1f} KiB/min; "
        f"DOM nodes {f['dom_nodes_min_settled']:.0f}..{f['dom_nodes_max_settled']:.0f}; "
        f"{f['patches_applied']:.0f} patches applied in all; page errors: {errors}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wall_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=5, help="minutes before the slope is fitted")
    parser.add_argument("--sample", type=float, default=20, help="seconds between samples")
    parser.add_argument("--churn", type=float, default=5, help="task failures per second")
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=2, help="dashboard restarts during the run")
    parser.add_argument("--failed-minutes", type=int, default=1, help="SWARM_FAILED_TASKS_MINUTES")
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args(argv)
    if not os.path.exists("/usr/bin/chromium"):
        sys.exit("chromium is missing: apt-get install -y chromium")
    result = asyncio.run(run(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"wall_soak-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
