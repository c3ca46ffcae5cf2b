"""bench.simulator serves task logs as Docker does: multiplexed or raw, tailed, followed, or why there are none."""

from __future__ import annotations

import asyncio
import json
import re
import time

import aiohttp

from bench.simulator import Simulator
from tests.unit import simulator_helpers
from tests.unit.simulator_helpers import call, frames, on_node

# the simulators these tests run against: pytest fixtures shared in simulator_helpers
sim, sim29 = simulator_helpers.sim, simulator_helpers.sim29


async def test_it_multiplexes_task_logs_with_timestamps_tail_and_since(sim29: Simulator) -> None:
    task = on_node(sim29, sim29.node_ids[1])
    path = sim29.socket_path
    status, headers, body = await call(path, "GET", f"/v1.52/tasks/{task}/logs?stdout=1&stderr=1")
    assert (status, headers["Content-Type"]) == (200, "application/vnd.docker.multiplexed-stream")
    lines = frames(body)
    assert len(lines) >= 3 and {stream for stream, _ in lines} == {1, 2}
    assert all(text.endswith("\n") for _, text in lines) and task in lines[0][1]  # the first line names its task
    _, _, body = await call(path, "GET", f"/tasks/{task}/logs?stdout=1&stderr=1&tail=2&timestamps=1")
    tailed = frames(body)
    assert [text.split(" ", 1)[1] for _, text in tailed] == [text for _, text in lines[-2:]]
    stamp = tailed[0][1].split(" ", 1)[0]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", stamp)
    _, _, body = await call(path, "GET", f"/tasks/{task}/logs?stderr=1")
    assert {stream for stream, _ in frames(body)} == {2}
    assert frames((await call(path, "GET", f"/tasks/{task}/logs?stdout=1&stderr=1&tail=0"))[2]) == []
    assert frames((await call(path, "GET", f"/tasks/{task}/logs?stdout=1&since={int(time.time()) + 60}"))[2]) == []
    _, _, body = await call(path, "GET", f"/tasks/{task}/logs?stdout=1&tail=1&details=1")
    assert frames(body)[0][1].startswith(f"com.docker.swarm.node.id={sim29.node_ids[1]},com.docker.swarm.service.id=")


async def test_it_refuses_task_logs_without_a_stream_or_with_a_bad_tail(sim: Simulator) -> None:
    task = sim.task_ids(state="running")[0]
    status, _, body = await call(sim.socket_path, "GET", f"/tasks/{task}/logs")
    assert (status, json.loads(body)) == (500, {"message": "Bad parameters: you must choose at least one stream"})
    status, _, body = await call(sim.socket_path, "GET", f"/tasks/{task}/logs?stdout=1&tail=x")
    assert (status, json.loads(body)) == (500, {"message": 'tail value must be a positive integer or "all"'})
    assert (await call(sim.socket_path, "GET", "/tasks/nope/logs?stdout=1"))[0] == 404


async def test_it_follows_a_task_log_with_a_new_line_every_interval(sim29: Simulator) -> None:
    task = on_node(sim29, sim29.local_node_id)
    sim29.logs.interval = 1.0  # both followers are open well before the first line, however loaded the machine
    url = f"http://docker/tasks/{task}/logs?stdout=1&stderr=1&follow=1&tail=0"
    connector = aiohttp.UnixConnector(path=sim29.socket_path)
    async with aiohttp.ClientSession(connector=connector) as session, asyncio.timeout(5):
        async with session.get(url) as one, session.get(url) as two:
            assert one.status == two.status == 200  # headers come at once, before any line
            seen = [await one.content.readexactly(8), await two.content.readexactly(8)]
            first = [await one.content.readexactly(int.from_bytes(seen[0][4:], "big"))]
            first.append(await two.content.readexactly(int.from_bytes(seen[1][4:], "big")))
            assert first[0] == first[1]  # one writer per task: both followers get the same line
            header = await one.content.readexactly(8)
            second = await one.content.readexactly(int.from_bytes(header[4:], "big"))
    assert first[0] != second and b"handled request" in first[0] + second


async def test_it_sends_raw_logs_for_a_service_with_a_tty(sim29: Simulator) -> None:
    service = sim29.task(sim29.task_ids(state="running")[0])["ServiceID"]
    sim29.set_tty(service)
    task = sim29.task_ids(service_id=service, state="running", desired_state="running")[0]
    assert sim29.task(task)["Spec"]["ContainerSpec"]["TTY"] is True
    status, headers, body = await call(sim29.socket_path, "GET", f"/tasks/{task}/logs?stdout=1&stderr=1")
    assert (status, headers["Content-Type"]) == (200, "application/vnd.docker.raw-stream")
    assert body.count(b"\r\n") >= 3 and body[0] != 1 and b"\0\0\0" not in body


async def test_it_says_why_a_task_that_never_ran_has_no_log(sim: Simulator) -> None:
    service = sim.create_service("web", constraints=["node.labels.zone==nowhere"])
    pending = sim.task_ids(service_id=service, desired_state="running")[0]
    status = sim.task(pending)["Status"]
    assert (status["State"], status["Err"]) == (
        "pending",
        "no suitable node (scheduling constraints not satisfied on 6 nodes)",
    )
    assert "NodeID" not in sim.task(pending)
    _, _, body = await call(sim.socket_path, "GET", f"/tasks/{pending}/logs?stdout=1&stderr=1")
    reason = f"task {pending} has not been scheduled"
    assert frames(body) == [
        (
            3,
            "Error grabbing logs: rpc error: code = Unknown desc = warning: incomplete log stream. some logs "
            f"could not be retrieved for the following reasons: {reason}\n",
        )
    ]
