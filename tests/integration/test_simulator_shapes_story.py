"""bench.simulator answers Docker's writes, logs and containers as a real 20.10 daemon does.

One story plays on the lab and on the simulator, with the lab's names: secrets and a config created
(and a duplicate refused), a service using them whose secret is rotated through an update (a stale
one refused), task logs (multiplexed, raw with a TTY, and a task never scheduled), a container of
node 1 and one elsewhere. Statuses and messages are compared as they are, documents by their shape.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import tempfile
import time
from typing import Any

import aiohttp

from bench.simulator import Simulator
from tests.integration.jsonshape import shapes
from tests.lab import Lab, Swarm, wait_until

# keys that vary with what ran, not with the shape: a health check's exec, the command's arguments
CONTAINER_OPTIONAL = {"ExecIDs[]:str", "ExecIDs:NoneType", "Args[]:str"}


async def _request(socket_path: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as session,
        session.request(method, "http://docker/v1.41" + path, data=data, timeout=aiohttp.ClientTimeout(total=30)) as r,
    ):
        return r.status, dict(r.headers), await r.read()


def _frames(body: bytes) -> list[tuple[int, str]]:
    out = []
    while body:
        size = int.from_bytes(body[4:8], "big")
        out.append((body[0], body[8 : 8 + size].decode()))
        body = body[8 + size :]
    return out


class Names:
    """The lab's unique names, used by the simulator too, so the messages compare as they are."""

    def __init__(self, swarm: Swarm) -> None:
        self.secret, self.secret2, self.config = swarm.name("pw"), swarm.name("pw2"), swarm.name("conf")
        self.service = self.tty = self.pending = ""  # named when the lab creates them


async def _story(socket_path: str, names: Names, driver: Any) -> dict[str, Any]:
    """One story on either side; ``driver`` does what only a user (the CLI) or a test (the methods) can."""

    async def call(method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
        return await _request(socket_path, method, path, body)

    async def get(path: str) -> Any:
        return json.loads((await call("GET", path))[2])

    out: dict[str, Any] = {}
    data = base64.b64encode(b"hunter2").decode()
    out["create"] = await call("POST", "/secrets/create", {"Name": names.secret, "Labels": {"a": "b"}, "Data": data})
    secret = json.loads(out["create"][2])["ID"]
    out["duplicate"] = await call("POST", "/secrets/create", {"Name": names.secret, "Data": data})
    second = json.loads((await call("POST", "/secrets/create", {"Name": names.secret2, "Data": data}))[2])["ID"]
    config_body = {"Name": names.config, "Labels": {}, "Data": base64.b64encode(b"a=1\n").decode()}
    config = json.loads((await call("POST", "/configs/create", config_body))[2])["ID"]
    out["secrets"], out["secret"] = await get("/secrets"), await get(f"/secrets/{secret}")
    out["configs"], out["config"] = await get("/configs"), await get(f"/configs/{config}")
    service, tty_task, pending_task = await driver(names)
    out["in use"] = await call("DELETE", f"/secrets/{secret}")
    current = await get(f"/services/{service}")
    spec, version = current["Spec"], current["Version"]["Index"]
    out["stale"] = await call("POST", f"/services/{service}/update?version={version - 1}", spec)
    ref = spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    ref["SecretID"], ref["SecretName"] = second, names.secret2
    since = time.time_ns()
    out["update"] = await call("POST", f"/services/{service}/update?version={version}", spec)
    deadline = time.monotonic() + 30
    while (await get(f"/services/{service}")).get("UpdateStatus", {}).get("State") != "completed":
        assert time.monotonic() < deadline, "the update did not complete within 30 s"
        await asyncio.sleep(0.2)
    out["updated"] = await get(f"/services/{service}")
    await asyncio.sleep(1.5)  # the new containers' first health checks (interval 1 s)
    window = f"since={since / 1e9:.9f}&until={time.time_ns() / 1e9:.9f}"
    _, _, body = await call("GET", f"/events?{window}&filters=" + json.dumps({"type": ["service", "secret"]}))
    out["events"] = [json.loads(line) for line in body.splitlines() if line.strip()]
    tasks = await get("/tasks?filters=" + json.dumps({"service": [service], "desired-state": ["running"]}))
    here = (await get("/info"))["Swarm"]["NodeID"]
    local = next(t for t in tasks if t["NodeID"] == here)
    remote = next(t for t in tasks if t["NodeID"] != here)
    out["logs"] = await call("GET", f"/tasks/{local['ID']}/logs?stdout=1&stderr=1&timestamps=1&tail=4")
    out["tty logs"] = await call("GET", f"/tasks/{tty_task}/logs?stdout=1&stderr=1&tail=2")
    out["pending logs"] = await call("GET", f"/tasks/{pending_task}/logs?stdout=1&stderr=1")
    out["pending task"] = pending_task
    out["no stream"] = await call("GET", f"/tasks/{local['ID']}/logs")
    out["container"] = await get(f"/containers/{local['Status']['ContainerStatus']['ContainerID']}/json")
    out["remote container id"] = remote["Status"]["ContainerStatus"]["ContainerID"]
    out["remote container"] = await call("GET", f"/containers/{out['remote container id']}/json")
    return out


def _real_story(lab: Lab, swarm: Swarm, names: Names) -> dict[str, Any]:
    swarm.secrets += [names.secret, names.secret2]  # the helper removes them after the test
    loop = "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.3; done"
    health = ("--health-cmd", "true", "--health-interval", "1s")

    async def drive(names: Names) -> tuple[str, str, str]:
        extra = ("--secret", names.secret, "--config", names.config, *health)
        names.service = swarm.create_service("hs", mode="global", command=("sh", "-c", loop), extra=extra)
        tty_loop = ("sh", "-c", "while true; do echo tty; sleep 0.3; done")
        names.tty = swarm.create_service("tty", command=tty_loop, extra=("--tty",))
        names.pending = swarm.create_service("pend", extra=("--constraint", "node.labels.nowhere==1"))
        swarm.wait_running(names.service, 3)
        swarm.wait_running(names.tty, 1)
        wait_until(lambda: swarm.tasks(names.pending), timeout=10, what="the pending task")
        local_node = lab.node_ids()["swarm-n1"]
        local = next(t for t in swarm.tasks(names.service) if t["NodeID"] == local_node)
        container = local["Status"]["ContainerStatus"]["ContainerID"]
        wait_until(
            lambda: lab.api(f"/containers/{container}/json")["State"]["Health"]["Status"] == "healthy",
            timeout=30,
            what="a healthy container",
        )
        tasks = (swarm.tasks(names.tty)[0]["ID"], swarm.tasks(names.pending)[0]["ID"])
        return swarm.service_id(names.service), *tasks

    try:
        return asyncio.run(_story(lab.sock(1), names, drive))
    finally:  # the config goes once no service uses it
        mine = [n for n in (names.service, names.tty, names.pending) if n in swarm.services]
        if mine:
            lab.docker("service", "rm", *mine, check=False)
            swarm.services = [n for n in swarm.services if n not in mine]
            wait_until(
                lambda: not any(t["Spec"]["ContainerSpec"].get("Configs") for t in lab.api("/tasks")),
                timeout=30,
                what="the story's tasks to be gone",
            )
        lab.docker("config", "rm", names.config, check=False)


async def _simulated_story(names: Names) -> dict[str, Any]:
    sim = Simulator(nodes=3, tasks=3, managers=1, seed=4, step_delay=0.01, log_interval=0.1)

    async def drive(names: Names) -> tuple[str, str, str]:
        secrets, configs = [names.secret], [names.config]
        hs = sim.create_service(names.service, replicas=None, healthcheck=True, secrets=secrets, configs=configs)
        tty = sim.create_service(names.tty)
        sim.set_tty(tty)
        pend = sim.create_service(names.pending, constraints=["node.labels.nowhere==1"])
        await asyncio.sleep(0.5)  # a few lines of log
        for task in sim.task_ids(service_id=hs, state="running"):
            sim.set_health(task, "healthy")
        tty_task = sim.task_ids(service_id=tty, state="running", desired_state="running")[0]
        return hs, tty_task, sim.task_ids(service_id=pend)[0]

    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    await sim.start(f"{folder}/docker.sock")
    try:
        return await _story(sim.socket_path, names, drive)
    finally:
        await sim.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_it_serves_secrets_updates_logs_and_containers_as_docker_does(lab: Lab, swarm: Swarm) -> None:
    names = Names(swarm)
    real = _real_story(lab, swarm, names)
    simulated = asyncio.run(_simulated_story(names))  # with the lab's names: the messages compare as they are

    for key in ("duplicate", "in use", "stale", "update", "no stream"):
        (status, _, body), (sim_status, _, sim_body) = real[key], simulated[key]
        assert (sim_status, json.loads(sim_body)) == (status, json.loads(body)), key
    assert real["create"][0] == simulated["create"][0] == 201
    assert list(json.loads(real["create"][2])) == list(json.loads(simulated["create"][2])) == ["ID"]

    def mine(docs: list[Any]) -> list[Any]:
        return [d for d in docs if d["Spec"]["Name"] in (names.secret, names.secret2, names.config)]

    for kind in ("secrets", "configs"):
        assert shapes(mine(simulated[kind])) == shapes(mine(real[kind])), kind
    assert shapes([simulated["secret"]]) == shapes([real["secret"]]) and "Data" not in real["secret"]["Spec"]
    assert shapes([simulated["config"]]) == shapes([real["config"]]) and "Data" in real["config"]["Spec"]

    updated, sim_updated = real["updated"], simulated["updated"]
    assert list(sim_updated) == list(updated)  # PreviousSpec and UpdateStatus included
    assert sim_updated["UpdateStatus"]["State"] == updated["UpdateStatus"]["State"] == "completed"
    assert list(sim_updated["UpdateStatus"]) == list(updated["UpdateStatus"])

    def update_states(events: list[Any]) -> list[tuple[str, str]]:
        return [(e["Type"], e["Actor"]["Attributes"].get("updatestate.new", "")) for e in events]

    assert update_states(simulated["events"]) == update_states(real["events"])

    stamped = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z .*\n$")
    for story in (real, simulated):
        status, _, body = story["logs"]
        lines = _frames(body)
        assert status == 200 and len(lines) == 4 and {s for s, _ in lines} == {1, 2}
        assert all(stamped.match(text) for _, text in lines), lines
        status, _, body = story["tty logs"]
        assert status == 200 and body.endswith(b"\r\n") and body.count(b"\r\n") == 2 and body[:1] not in (b"\1", b"\2")

    def pending(story: dict[str, Any]) -> list[tuple[int, str]]:
        return [(s, text.replace(story["pending task"], "TASK")) for s, text in _frames(story["pending logs"][2])]

    assert pending(simulated) == pending(real) and pending(real)[0][0] == 3

    def no_such(story: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = story["remote container"]
        return status, json.loads(body)["message"].replace(story["remote container id"], "ID")

    assert no_such(simulated) == no_such(real) == (404, "No such container: ID")
    ours, theirs = shapes([simulated["container"]]), shapes([real["container"]])
    assert ours - theirs <= CONTAINER_OPTIONAL, "the simulator sends container keys Docker never does"
    assert theirs - ours <= CONTAINER_OPTIONAL, "the simulator lacks container keys Docker sends"
    assert "State.Health.Status:str" in ours and real["container"]["State"]["Health"]["Status"] == "healthy"
