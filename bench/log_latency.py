"""Log line to browser latency: a task prints a line every 100 ms; the task panel follows its logs.

For every line that reaches the page, the latency is the page's arrival time minus the timestamp
Docker stamped on the line when it read it from the container (same machine, same clock). Prints
p50/p95/max over the lines of the measuring window.

    .venv/bin/python -m bench.log_latency [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, USERS, Dashboard
from tests.lab import Lab, Swarm

OBSERVE = """() => { window.__arrivals = [];
  new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes)
    if (n.classList && n.classList.contains('log-line'))
      window.__arrivals.push([n.firstChild.textContent, Date.now()]);
  }).observe(document.getElementById('panel'), {childList: true, subtree: true}); }"""


def epoch_ms(ts: str) -> float:
    return datetime.fromisoformat(ts.rstrip("Z")[:26] + "+00:00").timestamp() * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(dashboard: Dashboard, task_id: str, seconds: float) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(bypass_csp=True)).new_page()
        await page.goto(f"{dashboard.url}/accounts/login/")
        await page.fill("#id_username", "viewer")
        await page.fill("#id_password", USERS["viewer"][0])
        await page.click("button[type=submit]")
        await page.wait_for_function("window.swarmReady === true", timeout=15000)
        await page.evaluate(OBSERVE)
        await page.click(f'#grid [data-task-id="{task_id}"]')
        await page.wait_for_function("window.__arrivals.length > 10", timeout=15000)
        start = len(await page.evaluate("window.__arrivals"))  # the tail lines arrive at once: not measured
        await asyncio.sleep(seconds)
        arrivals: list[Any] = (await page.evaluate("window.__arrivals"))[start:]
        await browser.close()
    return [at - epoch_ms(ts) for ts, at in arrivals if ts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    tag = f"l{os.getpid() % 10000}"
    lab = Lab(base=f"/tmp/benchlab-{tag}", prefix=f"bl{tag}", nodes=3, managers=1).up()
    dashboard = None
    try:
        dashboard = Dashboard(lab.docker_host, Path(tempfile.mkdtemp(prefix="bench-logs-")))
        dashboard.start()
        swarm = Swarm(lab)
        name = swarm.create_service(
            "ticker", command=("sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done")
        )
        swarm.wait_running(name, 1)
        task_id = swarm.tasks(name)[0]["ID"]
        lags = asyncio.run(measure(dashboard, task_id, args.seconds))
        print(f"log line -> browser, {len(lags)} lines over {args.seconds:g}s (a line every 100 ms):")
        print(f"  p50 {percentile(lags, 50):.0f} ms   p95 {percentile(lags, 95):.0f} ms   max {max(lags):.0f} ms"
              f"   mean {statistics.mean(lags):.0f} ms")  # fmt: skip
    finally:
        if dashboard is not None:
            dashboard.stop()
        lab.down()


if __name__ == "__main__":
    main()
