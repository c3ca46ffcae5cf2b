"""What a usage frame (node agents' resource use, dashboard/live/protocol.py) costs the grid's main
thread in headless Chromium, at 500 nodes / 20,000 tasks.

The simulator holds the swarm, the dashboard runs under daphne, one Chromium page shows the grid.
Each round hands the page's usage store one frame naming every node and every task, in parts of
5,000 tasks each in tasks of their own as the server sends them (the page coalesces them into one
animation frame), and measures in the page: each part's parsing into the store, the listeners' run in the next
animation frame (bars of the boxes and columns in view), and that frame's style, layout and paint
(to a task queued from the listeners' animation frame callback, which runs after the paint).

    .venv/bin/python -m bench.usage_frame [--nodes 500] [--tasks 20000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench import harness

TARGET_MS = 16
PER_PART = 5000  # tasks per part of a frame, as the server sends them (dashboard/live/protocol.py)
# part: the longest part's parsing and storing (the longest task a frame puts on the main thread);
# applied: all parts; render: style, layout and paint of the bars; total: applied, listeners and render
PARTS = ("part", "applied", "listeners", "render", "total")

# One round: a frame with every node and task, the store's apply timed, then the listeners' run from
# the animation frame it waits for, then the paint after it.
ROUND = """async ([round, perPart]) => {
  const u = window.swarmUsage;
  const m = window.swarm;
  const at = Date.now() / 1000;
  const nodes = {};
  for (const id of m.nodes.keys()) nodes[id] = [0.5 + (round % 3) * 0.1, 4, 2 ** 30 + round, 2 ** 33];
  const ids = [...m.tasks.keys()];
  const texts = [];
  for (let i = 0; i < Math.max(1, ids.length); i += perPart) {
    const tasks = {};
    for (const id of ids.slice(i, i + perPart)) tasks[id] = [0.01 * (round % 50), 2 ** 20 * (round % 64 + 1), 2 ** 28];
    texts.push(JSON.stringify({ type: "usage", epoch: 0, at, every: 5, nodes: i ? {} : nodes, tasks }));
  }
  const later = u.later;
  let listenedAt = 0;
  const done = new Promise((resolve) => {
    u.later = (run) => later(() => {
      const t = performance.now();
      run();
      const p = performance.now();
      listenedAt = p - t;
      setTimeout(() => resolve(performance.now() - p), 0); // runs once this frame is painted
    });
  });
  // each part in a task of its own, as the socket's messages come
  const parts = [];
  for (const text of texts) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const t0 = performance.now(); // the socket's message handler parses the part, then the store takes it
    u.apply(JSON.parse(text), Date.now());
    parts.push(performance.now() - t0);
  }
  const render = await done;
  u.later = later;
  const applied = parts.reduce((a, b) => a + b, 0);
  return { part: Math.max(...parts), applied, listeners: listenedAt, render, total: applied + listenedAt + render };
}"""


async def run(browser: Any, dash: harness.Dashboard, rounds: int) -> dict[str, Any]:
    context = await harness.grid_context(browser, dash)
    try:
        page = await context.new_page()
        await page.goto(dash.url + "/", wait_until="commit", timeout=120000)
        await page.wait_for_function("window.swarmReady === true", timeout=120000)
        results = [await page.evaluate(ROUND, [i, PER_PART]) for i in range(rounds)]
        bars = await page.evaluate("document.querySelectorAll('#grid .use:not([hidden])').length")
        boxes = await page.evaluate("document.querySelectorAll('#grid [data-task-id]').length")
        out: dict[str, Any] = {"boxes_on_page": boxes, "boxes_with_bars": bars}
        for key in PARTS:
            out[key] = harness.summary([r[key] for r in results])
        return out
    finally:
        await context.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": harness.machine(), "nodes": args.nodes, "tasks": args.tasks}
    with harness.SimHost(nodes=args.nodes, tasks=args.tasks) as sim, harness.Dashboard(sim.docker_host) as dash:
        async with harness.chromium() as browser:
            out["run"] = await run(browser, dash, args.rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    harness.interrupt_on_sigterm()
    data = asyncio.run(main_async(args))
    r = data["run"]
    rows = [[key, r[key]["p50"], r[key]["p95"], r[key]["max"]] for key in PARTS]
    title = (
        f"a usage frame naming all {args.tasks:,} tasks on {args.nodes} nodes, in the grid "
        f"in parts of {PER_PART:,} ({r['boxes_on_page']} boxes on the page, {r['boxes_with_bars']} with bars) (ms)"
    )
    print(harness.table(title, ["part", "p50", "p95", "max"], rows))
    worst = r["total"]["p95"]
    print(f"target main thread p95 < {TARGET_MS} ms: {'met' if worst < TARGET_MS else 'NOT met'} ({worst:.1f} ms)")
    print(f"saved {harness.save('usage_frame', data)}")


if __name__ == "__main__":
    main()
