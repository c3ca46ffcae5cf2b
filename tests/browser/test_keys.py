"""A person's eyes and hands on the grid, in Chromium on the lab: a box stays where it is while
other services scale, and the keyboard reaches everything (arrows, Enter, Esc, ?, /)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.browser.test_grid import service, wait_boxes
from tests.lab import Swarm

RECT = "(e) => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }"
FOCUSED = "() => document.activeElement && document.activeElement.dataset.taskId || document.activeElement.id"
TAB_STOPS = "() => [...document.querySelectorAll('#grid [data-task-id][tabindex=\"0\"]')].map((b) => b.dataset.taskId)"
# where an arrow key should go from a box, worked out from the page's columns as a person sees them
NEIGHBOURS = """(id) => {
  const cols = [...document.querySelectorAll('#grid section.node')].map((c) => [...c.querySelectorAll('.task')])
    .filter((boxes) => boxes.length);
  const c = cols.findIndex((boxes) => boxes.some((b) => b.dataset.taskId === id));
  const i = cols[c].findIndex((b) => b.dataset.taskId === id);
  const at = (col, j) => col && col[Math.min(j, col.length - 1)] ? col[Math.min(j, col.length - 1)].dataset.taskId : id;
  return { down: at(cols[c], i + 1 < cols[c].length ? i + 1 : i), right: at(cols[c + 1], i) };
}"""


async def test_a_watched_box_stays_put_while_other_services_scale_and_come(swarm: Swarm, page: Any) -> None:
    _, watched = await service(swarm, "a-watch", replicas=1)
    other, other_id = await service(swarm, "z-other", replicas=1)
    # its tasks can never be placed: they wait, pending, in the unassigned column
    stuck, stuck_id = await service(swarm, "m-stuck", replicas=0, extra=("--constraint", "node.labels.nowhere==1"))
    await wait_boxes(page, watched, "running", 1)
    await wait_boxes(page, other_id, "running", 1)
    box = f'#grid [data-service-id="{watched}"]'
    before = await page.eval_on_selector(box, RECT)
    await asyncio.to_thread(swarm.scale, other, 7)
    await asyncio.to_thread(swarm.scale, stuck, 2)
    await wait_boxes(page, other_id, "running", 7)
    await wait_boxes(page, stuck_id, "pending", 2)
    assert await page.eval_on_selector(box, RECT) == before


async def test_the_keyboard_moves_between_boxes_opens_and_closes_the_panel_and_lists_the_keys(
    swarm: Swarm, page: Any
) -> None:
    _, sid = await service(swarm, "k-keys", replicas=6)
    await wait_boxes(page, sid, "running", 6)
    start = await page.evaluate(f"() => document.querySelector('#grid [data-service-id=\"{sid}\"]').dataset.taskId")
    assert len(await page.evaluate(TAB_STOPS)) == 1  # the boxes are one tab stop
    await page.focus(f'#grid [data-task-id="{start}"]')
    assert await page.evaluate(TAB_STOPS) == [start]
    near = await page.evaluate(NEIGHBOURS, start)
    await page.keyboard.press("ArrowDown")
    assert await page.evaluate(FOCUSED) == near["down"]
    await page.keyboard.press("ArrowUp")
    assert await page.evaluate(FOCUSED) == start
    await page.keyboard.press("ArrowRight")
    assert await page.evaluate(FOCUSED) == near["right"] != start
    assert await page.evaluate(TAB_STOPS) == [near["right"]]  # Tab comes back to where the arrows left off
    await page.keyboard.press("ArrowLeft")

    await page.keyboard.press("Enter")
    await page.wait_for_selector(f'#panel .task-panel[data-task-id="{start}"]', timeout=10000)
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#panel", state="hidden", timeout=5000)
    assert await page.evaluate(FOCUSED) == start  # focus is back on the box

    await page.keyboard.press("?")
    await page.wait_for_selector("#keys[open]", timeout=5000)
    assert "move between tasks" in (await page.text_content("#keys") or "")
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#keys:not([open])", state="attached", timeout=5000)
    assert await page.evaluate(FOCUSED) == start

    await page.keyboard.press("/")
    assert await page.evaluate(FOCUSED) == "filter"
    await page.keyboard.type("no-such-thing")
    await page.wait_for_function("() => document.querySelectorAll('#grid [data-match=\"true\"]').length === 0")
    await page.keyboard.press("Escape")
    assert await page.input_value("#filter") == ""
    await page.wait_for_function("() => document.querySelectorAll('#grid [data-match=\"false\"]').length === 0")
