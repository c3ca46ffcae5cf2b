"""Finding things on the grid and the wall, in Chromium on the lab: the filter (?q=) against what
Docker itself says, the link that carries it, and nodes in bands by a node label (?group=)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.test_grid import service, wait_boxes
from tests.lab import IMAGE, Lab, Swarm

HIDDEN_WHEN_DONE = {"shutdown", "complete", "remove", "failed", "rejected"}  # no task of these tests fails
OTHER_IMAGE = "local/findme:1"  # the lab's image under another name
ZONES = {"swarm-n2": "z-a", "swarm-n3": "z-b"}  # swarm-n1 has no zone: its band comes last

MATCHING = """() => [...document.querySelectorAll('#grid [data-task-id][data-match="true"]')]
  .map((b) => b.dataset.taskId).sort()"""
SHOWS = """(want) => {
  const boxes = [...document.querySelectorAll('#grid [data-task-id]')];
  const got = boxes.filter((b) => b.dataset.match === "true").map((b) => b.dataset.taskId).sort();
  return boxes.every((b) => b.dataset.match === "true" || b.dataset.match === "false")
    && JSON.stringify(got) === JSON.stringify(want);
}"""


@pytest.fixture
def zones(lab: Lab) -> Iterator[dict[str, str]]:
    """The lab's workers labelled with a zone (swarm-n1 left without), the labels removed after."""
    for host, zone in ZONES.items():
        lab.docker("node", "update", "--label-add", f"zone={zone}", host)
    yield ZONES
    for host in ZONES:
        lab.docker("node", "update", "--label-rm", "zone", host, check=False)


class Truth:
    """The lab as Docker's API answers it, and each filter term decided on those raw answers."""

    def __init__(self, lab: Lab) -> None:
        self.services = {s["ID"]: s for s in lab.api("/services")}
        self.nodes = {n["ID"]: n for n in lab.api("/nodes")}
        self.tasks = [t for t in lab.api("/tasks") if t["Status"]["State"] not in HIDDEN_WHEN_DONE]

    def where(self, test: Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], bool]) -> list[str]:
        out = []
        for t in self.tasks:
            svc = self.services.get(t["ServiceID"], {"Spec": {"Name": "", "Labels": {}}})
            node = self.nodes.get(t.get("NodeID", ""), {"Description": {"Hostname": ""}, "Spec": {}})
            if test(t, svc, node):
                out.append(t["ID"])
        return sorted(out)


def stack(svc: dict[str, Any]) -> str:
    return str((svc["Spec"].get("Labels") or {}).get("com.docker.stack.namespace", ""))


def label(thing: dict[str, Any], key: str) -> str | None:
    labels = thing["Spec"].get("Labels") or {}
    return labels.get(key)


async def test_each_filter_term_narrows_to_exactly_the_tasks_docker_says_match(
    lab: Lab, swarm: Swarm, page: Any, zones: dict[str, str]
) -> None:
    web, web_id = await service(
        swarm, "f-web", replicas=3,
        extra=("--label", "com.docker.stack.namespace=fshop", "--label", "tier=front"),
    )  # fmt: skip
    _, db_id = await service(
        swarm, "f-db", replicas=2, extra=("--label", "com.docker.stack.namespace=fshop", "--label", "tier=data")
    )
    # another name for the lab's image on every node: image: must tell services apart
    for i in range(1, lab.nodes + 1):
        await asyncio.to_thread(lab.docker, "tag", IMAGE, OTHER_IMAGE, node=i)
    other, other_id = await service(swarm, "f-other", replicas=2, image=OTHER_IMAGE)
    for sid, n in ((web_id, 3), (db_id, 2), (other_id, 2)):
        await wait_boxes(page, sid, "running", n)
    truth = await asyncio.to_thread(Truth, lab)
    host = lambda n: n["Description"]["Hostname"]  # noqa: E731
    cases: dict[str, list[str]] = {
        f"service:{web}": truth.where(lambda t, s, n: s["Spec"]["Name"] == web),
        "stack:fshop": truth.where(lambda t, s, n: stack(s) == "fshop"),
        "node:swarm-n2": truth.where(lambda t, s, n: host(n) == "swarm-n2"),
        "state:running": truth.where(lambda t, s, n: t["Status"]["State"] == "running"),
        "label:tier=front": truth.where(lambda t, s, n: label(s, "tier") == "front"),
        "label:zone=z-b": truth.where(lambda t, s, n: label(n, "zone") == "z-b"),
        f"image:{IMAGE.split('/')[-1]}": truth.where(lambda t, s, n: IMAGE in t["Spec"]["ContainerSpec"]["Image"]),
        "image:findme": truth.where(lambda t, s, n: OTHER_IMAGE in t["Spec"]["ContainerSpec"]["Image"]),
        other[:10]: truth.where(lambda t, s, n: other[:10] in s["Spec"]["Name"]),
        "stack:fshop -node:swarm-n2": truth.where(lambda t, s, n: stack(s) == "fshop" and host(n) != "swarm-n2"),
    }
    assert cases["stack:fshop"] and len(cases["stack:fshop"]) < len(truth.tasks)
    assert len(cases["image:findme"]) == 2 and cases["image:busybox:1"]  # image: tells them apart
    assert not set(cases["image:findme"]) & set(cases["image:busybox:1"])
    for q, want in cases.items():
        await page.fill("#filter", q)  # as typed: every keystroke narrows the page
        await page.wait_for_function(SHOWS, arg=want, timeout=5000)
        shown = len(truth.tasks)
        assert await page.text_content("#n-match") == f"{len(want)} of {shown} tasks match", q

    # the view travels as a link: the URL keeps the query, a reload keeps it, and the server's
    # own first paint (before any script or socket) marks the same boxes
    q = "stack:fshop -node:swarm-n2"
    await page.wait_for_function("(q) => new URL(location.href).searchParams.get('q') === q", arg=q, timeout=5000)
    await page.reload()
    await page.wait_for_function("window.swarmReady === true", timeout=15000)
    assert await page.input_value("#filter") == q
    assert await page.evaluate(MATCHING) == cases[q]
    html = await (await page.request.get(page.url)).text()
    first_paint = sorted(re.findall(r'data-task-id="([^"]+)" data-match="true"', html))
    assert first_paint == cases[q]
    assert f"{len(cases[q])} of {len(truth.tasks)} tasks match" in html

    # Esc in the field shows everything again, and the URL forgets the query
    await page.focus("#filter")
    await page.keyboard.press("Escape")
    await page.wait_for_function(SHOWS, arg=truth.where(lambda *_: True), timeout=5000)
    await page.wait_for_function("() => !new URL(location.href).searchParams.has('q')", timeout=5000)

    # the wall shows only what the same query matches
    wall = await page.context.new_page()
    await wall.goto(f"{page.url.split('?')[0]}wall/?q={quote('stack:fshop')}")
    await wall.wait_for_function("window.swarmReady === true", timeout=15000)
    await wall.wait_for_function(
        "(want) => JSON.stringify([...document.querySelectorAll('#w-tiles [data-task-id]')]"
        ".map((b) => b.dataset.taskId).sort()) === JSON.stringify(want)",
        arg=cases["stack:fshop"],
        timeout=10000,
    )
    await wall.close()


BANDS = """() => [...document.querySelectorAll('#grid > .band, #grid > section.node:not(.unassigned)')]
  .map((e) => e.matches('.band') ? ['band', e.dataset.band, e.textContent]
    : ['node', e.dataset.nodeId, e.dataset.band])"""


async def test_grouping_by_a_node_label_makes_one_band_per_value(lab: Lab, page: Any, zones: dict[str, str]) -> None:
    ids = lab.node_ids()
    base = page.url.split("?")[0]
    # the labels reach the model by the node's event: the first paint is judged once they have
    deadline = time.monotonic() + 10
    while True:
        nodes = (await (await page.request.get(f"{base}api/snapshot")).json())["nodes"]
        if {n["hostname"]: n["labels"].get("zone", "") for n in nodes} == {"swarm-n1": "", **zones}:
            break
        assert time.monotonic() < deadline, f"the dashboard's model has no zones 10 s after Docker: {nodes}"
        await asyncio.sleep(0.1)
    await page.goto(f"{base}?group=zone")
    want = [
        ["band", "z-a", "zone=z-a"], ["node", ids["swarm-n2"], "z-a"],
        ["band", "z-b", "zone=z-b"], ["node", ids["swarm-n3"], "z-b"],
        ["band", "", "no zone"], ["node", ids["swarm-n1"], ""],
    ]  # fmt: skip
    assert await page.evaluate(BANDS) == want  # the server's first paint
    await page.wait_for_function("window.swarmReady === true", timeout=15000)
    # a node's label changes: its column moves to its new band, live
    await asyncio.to_thread(lab.docker, "node", "update", "--label-add", "zone=z-a", "swarm-n3")
    want = [
        ["band", "z-a", "zone=z-a"], ["node", ids["swarm-n2"], "z-a"], ["node", ids["swarm-n3"], "z-a"],
        ["band", "", "no zone"], ["node", ids["swarm-n1"], ""],
    ]  # fmt: skip
    await page.wait_for_function(f"() => JSON.stringify(({BANDS})()) === JSON.stringify({want!r})".replace("'", '"'))

    wall = await page.context.new_page()
    await wall.goto(f"{base}wall/?group=zone")
    await wall.wait_for_function("window.swarmReady === true", timeout=15000)
    await wall.wait_for_function(
        "() => [...document.querySelectorAll('#w-tiles .w-band')].map((b) => b.dataset.band).join(',') === 'z-a,'",
        timeout=10000,
    )
    await wall.close()
