"""The wall screen in real Chromium: it fits any screen, every text legible, every node on a page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bench.wall_soak import wait_live
from tests.browser import wall_helpers
from tests.browser.conftest import Dashboard, follows_docker, login
from tests.browser.test_grid import service
from tests.browser.wall_helpers import NO_PULSE, SHOTS, screenshot, token_of, wall
from tests.lab import Lab, Swarm

# the kiosk token of the session's dashboard: a pytest fixture shared in wall_helpers
kiosk_token = wall_helpers.kiosk_token

SIZES = [(1280, 720), (1920, 1080), (3840, 2160)]
MIN_FONT_PX = 12  # dashboard.pages.wall.MIN_FONT_PX

# what a person at the wall sees: does it fit, is every text legible, is anything cut off
MEASURE = """() => {
  const se = document.scrollingElement;
  const texts = [...document.querySelectorAll("body *")].filter((e) => e.getClientRects().length
    && [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()));
  let smallest = null;
  for (const e of texts) {
    const size = parseFloat(getComputedStyle(e).fontSize);
    const what = `${e.tagName}.${e.className}: ${e.textContent.slice(0, 30)}`;
    if (!smallest || size < smallest.size) smallest = { size, what };
  }
  const cut = [...document.querySelectorAll("#w-tiles .tile, #w-tiles .tile .body")]
    .filter((e) => e.scrollHeight > e.clientHeight || e.scrollWidth > e.clientWidth)
    .map((e) => e.closest(".tile").dataset.nodeId);
  const outside = [...document.querySelectorAll("#w-tiles .tile")].filter((t) => {
    const r = t.getBoundingClientRect();
    return r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight;
  }).length;
  return {
    scrollWidth: se.scrollWidth, scrollHeight: se.scrollHeight, innerWidth, innerHeight, smallest, cut, outside,
    controls: document.querySelectorAll("button, input, select, textarea, a[href]").length,
    density: document.body.dataset.density, pages: window.wall.pages, page: window.wall.page,
    shown: [...document.querySelectorAll("#w-tiles .tile")].map((t) => t.dataset.nodeId),
    model: [...window.swarm.nodes.keys()],
    boxes: document.querySelectorAll("#w-tiles [data-task-id]").length,
    running: document.querySelectorAll("#w-tiles [data-task-id][data-state='running']").length,
    runningHere: [...window.swarm.tasks.values()].filter((t) => t.state === "running"
      && document.querySelector(`#w-tiles .tile[data-node-id="${t.node_id}"]`)).length,
  };
}"""
PAGE_CHANGED = "(page) => window.wall.page !== page"


@pytest.fixture(scope="session")
def large_token(large_dashboard: Dashboard) -> str:
    return token_of(large_dashboard)


async def check_fits(page: Any, shot: Path) -> dict[str, Any]:
    await page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=10000)
    await page.wait_for_function(NO_PULSE, timeout=15000)  # the picture of a screen at rest
    seen = await page.evaluate(MEASURE)
    await screenshot(page, shot)
    assert seen["scrollWidth"] <= seen["innerWidth"] and seen["scrollHeight"] <= seen["innerHeight"], seen
    assert seen["smallest"]["size"] >= MIN_FONT_PX, seen["smallest"]
    assert seen["cut"] == [] and seen["outside"] == 0, seen
    assert seen["controls"] == 0
    # every node has a tile, on this page or another, and this page shows its share
    assert sorted(n for p in seen["pages"] for n in p if n) == sorted(seen["model"])
    assert seen["shown"] == seen["pages"][seen["page"]]
    assert seen["running"] == seen["runningHere"]  # every running task of the page's nodes, as a box or a pip
    return dict(seen)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_it_fits_the_lab_swarm_on_every_screen(
    size: tuple[int, int], lab: Lab, swarm: Swarm, browser: Any, dashboard: Dashboard, kiosk_token: str
) -> None:
    created = [await service(swarm, "web", replicas=6), await service(swarm, "api", replicas=2)]
    created.append(await service(swarm, "agent", mode="global"))
    names = [name for name, _ in created]
    async with wall(browser, dashboard.url, size, f"?kiosk={kiosk_token}") as page:
        # the picture is taken once every task runs, as the manager tells
        await follows_docker(
            page,
            lambda: sum(swarm.running(name) for name in names) == 11,
            """(sids) => document.querySelectorAll(sids.map((s) => `[data-service-id='${s}'][data-state='running']`)
              .join(",")).length === 11""",
            [sid for _, sid in created],
            what="11 running tasks",
        )
        seen = await check_fits(page, SHOTS / f"wall-lab-{size[0]}x{size[1]}.png")
    assert seen["density"] == "full" and len(seen["pages"]) == 1
    assert sorted(seen["shown"]) == sorted(lab.node_ids().values())
    running = sum(1 for t in await asyncio.to_thread(lab.api, "/tasks") if t["Status"]["State"] == "running")
    assert seen["boxes"] >= running  # every running task has its box (failed ones stay a while too)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_it_fits_a_swarm_of_200_nodes_and_5000_tasks_on_every_screen(
    size: tuple[int, int], browser: Any, large_dashboard: Dashboard, large_token: str
) -> None:
    async with wall(browser, large_dashboard.url, size, f"?kiosk={large_token}") as page:
        seen = await check_fits(page, SHOTS / f"wall-large-{size[0]}x{size[1]}.png")
    assert len(seen["model"]) == 200
    assert seen["running"] == 5000 * len(seen["shown"]) // 200  # the simulator puts 25 tasks on every node


async def test_it_rotates_pages_through_every_node(browser: Any, large_dashboard: Dashboard) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
    try:
        page = await context.new_page()
        await login(page, large_dashboard.url)  # a signed-in viewer may open the wall too
        await page.goto(f"{large_dashboard.url}/wall/?density=compact&page=3")
        await wait_live(page, 60)
        first = await page.evaluate(MEASURE)
        assert first["density"] == "compact" and len(first["pages"]) > 1
        seen_nodes = set(first["shown"])
        for _ in range(2):
            page_now = await page.evaluate("window.wall.page")
            await page.wait_for_function(PAGE_CHANGED, arg=page_now, timeout=6000)
            now = await page.evaluate(MEASURE)
            assert now["shown"] == now["pages"][now["page"]] and now["cut"] == []
            seen_nodes |= set(now["shown"])
        assert len(seen_nodes) > len(first["shown"])
        assert await page.text_content("#w-page") == f"page {now['page'] + 1}/{len(now['pages'])}"
    finally:
        await context.close()
