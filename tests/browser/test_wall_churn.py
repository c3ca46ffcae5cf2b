"""The wall screen in real Chromium under churn: it pulses what changes, tells it, and its memory stays flat."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from bench.wall_soak import soak
from tests.browser import wall_helpers
from tests.browser.conftest import Dashboard, follows_docker, simulated_dashboard
from tests.browser.test_grid import service
from tests.browser.wall_helpers import NO_PULSE, SHOTS, screenshot, token_of, wall
from tests.lab import Swarm

# the kiosk token of the session's dashboard: a pytest fixture shared in wall_helpers
kiosk_token = wall_helpers.kiosk_token

RECONCILE_SECONDS = 8  # SWARM_RECONCILE_SECONDS, likewise

RECORD_PULSES = """() => {
  window.__pulses = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      for (const e of [n, ...n.querySelectorAll('[data-task-id]')]) {
        const pulse = [...e.classList].find((c) => c.startsWith('pulse-'));
        if (pulse) window.__pulses.push([e.dataset.serviceId, e.dataset.state, pulse]);
      }
    }
  }).observe(document.getElementById('w-tiles'), { childList: true, subtree: true });
}"""
TICKER_SAYS = "(text) => [...document.querySelectorAll('#w-events li')].some((li) => li.textContent.includes(text))"
PULSED = "([sid, pulse]) => window.__pulses.some(([s, , p]) => s === sid && p === pulse)"


async def test_it_pulses_what_changes_and_tells_it_in_the_ticker(
    swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    async with wall(browser, dashboard.url, (1920, 1080), f"?kiosk={kiosk_token}") as page:
        await page.evaluate(RECORD_PULSES)
        name, sid = await service(swarm, "arrives", replicas=2)  # the manager has it when the CLI returns
        await follows_docker(page, lambda: True, TICKER_SAYS, f"service {name} created", what="service created")
        await page.wait_for_function(PULSED, arg=[sid, "pulse-new"], timeout=15000)
        await asyncio.to_thread(swarm.scale, name, 3)
        await follows_docker(page, lambda: True, TICKER_SAYS, f"service {name} scaled 2 → 3", what="scaled")
        crash, crash_id = await service(
            swarm, "crashes", command=("sh", "-c", "sleep 0.5; exit 3"),
            extra=("--restart-condition", "on-failure", "--restart-max-attempts", "1"),
        )  # fmt: skip

        def failed() -> bool:
            return any(t["Status"]["State"] == "failed" for t in swarm.tasks(crash, desired=None))

        # a task that fails by itself on a worker makes no event a manager sends: it shows with the
        # next reconcile (an event does carry it when the task ran on the manager)
        await follows_docker(
            page, failed, PULSED, [crash_id, "pulse-bad"], within=RECONCILE_SECONDS + 2, what="task failed"
        )
        await page.wait_for_function(TICKER_SAYS, arg=f"task {crash}.1 failed", timeout=15000)
        line = await page.evaluate(
            "(text) => [...document.querySelectorAll('#w-events li')].find((li) => li.textContent.includes(text))"
            ".textContent",
            f"task {crash}.1 failed",
        )
        assert re.search(r"non-zero exit \(3\)|exit 3", line), line
        # a pulse ends with its animation; no timer per box is left behind
        await page.wait_for_function(NO_PULSE, timeout=15000)
        await screenshot(page, SHOTS / "wall-events-1920x1080.png")


async def test_it_keeps_its_memory_flat_under_churn(browser: Any, tmp_path: Path) -> None:
    """The short version of bench/wall_soak.py: a small swarm whose task history fills in seconds.

    What the page holds must not grow with what it has seen: after the warm-up (every slot's
    history full, the ticker full, the code compiled) the DOM stays the same size and the heap
    moves within noise while the swarm keeps changing.
    """
    with simulated_dashboard(tmp_path, nodes=5, tasks=10, churn=6, SWARM_FAILED_TASKS_MINUTES="0") as dash:
        token = token_of(dash)
        async with wall(browser, dash.url, (1280, 720), f"?kiosk={token}") as page:
            warm = await soak(page, seconds=24, every=6)
            # the history filled up (it may already be full at the first sample: the page came up
            # after a few seconds of churn); more than the 10 tasks that run at once
            assert warm[-1].model_tasks > 10
            samples = await soak(page, seconds=30, every=3)
    heaps = [s.heap for s in samples]
    dom = [s.dom_nodes for s in samples]
    growth = sorted(heaps[-3:])[1] - sorted(heaps[:3])[1]
    assert samples[-1].seq > samples[0].seq + 20, "the swarm must really be changing"
    assert growth < 256 * 1024, f"heap grew {growth / 1024:.0f} KiB: {heaps}"
    assert max(dom) - min(dom) < 150, dom
    assert len({s.listeners for s in samples}) == 1
