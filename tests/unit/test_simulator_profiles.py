"""bench.simulator answers as the engine it plays: Engine 20.10 (API 1.41) or Engine 29 (API 1.52)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import sys
import tempfile

import pytest

from bench.simulator import Simulator
from tests.unit import simulator_helpers
from tests.unit.simulator_helpers import ROOT, call, filters, on_node, past_events, serving

# the simulators these tests run against: pytest fixtures shared in simulator_helpers
sim, sim29 = simulator_helpers.sim, simulator_helpers.sim29


TOO_OLD = (
    "client version {} is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version"
)


async def test_it_refuses_clients_below_api_1_44_on_engine_29_with_dockers_message(sim29: Simulator) -> None:
    for path in ("/v1.41/version", "/v1.41/_ping", "/v1.43/nodes", "/v1.41/tasks"):
        status, headers, body = await call(sim29.socket_path, "GET", path)
        version = path.split("/")[1][1:]
        assert (status, json.loads(body)) == (400, {"message": TOO_OLD.format(version)}), path
        assert headers["Content-Type"] == "application/json"
        assert (headers["Api-Version"], headers["Server"]) == ("1.52", "Docker/29.0.2 (linux)")
    status, _, body = await call(sim29.socket_path, "GET", "/v1.53/info")
    assert (status, json.loads(body)) == (
        400,
        {"message": "client version 1.53 is too new. Maximum supported API version is 1.52"},
    )
    status, headers, body = await call(sim29.socket_path, "GET", "/v1.20/info")  # below 1.24: plain text, as http.Error
    assert (status, headers["Content-Type"], body) == (
        400,
        "text/plain; charset=utf-8",
        TOO_OLD.format("1.20").encode() + b"\n",
    )


async def test_it_answers_unversioned_version_and_ping_on_engine_29(sim29: Simulator) -> None:
    status, headers, body = await call(sim29.socket_path, "GET", "/_ping")
    assert (status, body, headers["Api-Version"], headers["Swarm"], headers["Builder-Version"]) == (
        200,
        b"OK",
        "1.52",
        "active/manager",
        "2",
    )
    status, _, body = await call(sim29.socket_path, "GET", "/version")
    version = json.loads(body)
    assert status == 200
    assert (version["ApiVersion"], version["MinAPIVersion"], version["Version"]) == ("1.52", "1.44", "29.0.2")
    assert list(version)[:7] == ["Platform", "Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "Components"]
    engine = version["Components"][0]
    assert (engine["Name"], engine["Details"]["GoVersion"], engine["Details"]["MinAPIVersion"]) == (
        "Engine",
        "go1.25.4",
        "1.44",
    )
    assert [c["Name"] for c in version["Components"]] == ["Engine", "containerd", "runc", "docker-init"]
    for path in ("/v1.44/nodes", "/v1.52/nodes", "/nodes"):
        status, _, body = await call(sim29.socket_path, "GET", path)
        assert status == 200 and len(json.loads(body)) == 3, path


@pytest.mark.parametrize(("engine", "expected"), [("20.10", "1.41"), ("29", "1.52")])
async def test_it_lets_a_client_negotiate_as_the_docker_cli_does(engine: str, expected: str) -> None:
    sim = Simulator(nodes=2, tasks=4, managers=1, engine=engine, step_delay=0)
    async with serving(sim) as path:
        _, _, body = await call(path, "GET", "/version")
        offered = json.loads(body)["ApiVersion"]
        chosen = min((1, 52), tuple(int(p) for p in offered.split(".")))
        assert ".".join(map(str, chosen)) == expected
        status, _, body = await call(path, "GET", f"/v{expected}/info")
        assert status == 200 and json.loads(body)["Swarm"]["ControlAvailable"] is True


async def test_it_reports_engine_29_in_info_and_nodes(sim29: Simulator) -> None:
    _, _, body = await call(sim29.socket_path, "GET", "/v1.52/info")
    info = json.loads(body)
    assert (info["ServerVersion"], info["Driver"]) == ("29.0.2", "overlayfs")
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", info["ID"])  # engine-id: a UUID
    assert info["CDISpecDirs"] == [] and info["Containerd"]["Namespaces"]["Containers"] == "moby"
    assert info["FirewallBackend"] == {"Driver": "iptables"} and "KernelMemoryTCP" not in info
    _, _, body = await call(sim29.socket_path, "GET", "/v1.45/info")
    older = json.loads(body)
    assert "Containerd" not in older and "FirewallBackend" not in older and older["CDISpecDirs"] == []
    _, _, body = await call(sim29.socket_path, "GET", "/v1.52/nodes")
    node = json.loads(body)[0]["Description"]["Engine"]
    assert node["EngineVersion"] == "29.0.2"
    assert {"Type": "Log", "Name": "logentries"} not in node["Plugins"]


async def test_it_keeps_the_20_10_answers(sim: Simulator) -> None:
    status, headers, body = await call(sim.socket_path, "GET", "/_ping")
    assert (status, headers["Api-Version"], headers["Server"], "Swarm" in headers) == (
        200,
        "1.41",
        "Docker/20.10.24 (linux)",
        False,
    )
    version = json.loads((await call(sim.socket_path, "GET", "/version"))[2])
    assert (version["ApiVersion"], version["MinAPIVersion"], version["Version"]) == ("1.41", "1.12", "20.10.24")
    info = json.loads((await call(sim.socket_path, "GET", "/v1.41/info"))[2])
    assert "CDISpecDirs" not in info and info["Driver"] == "overlay2"
    status, _, body = await call(sim.socket_path, "GET", "/v1.11/version")
    assert status == 400 and body.startswith(
        b"client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade"
    )
    assert (await call(sim.socket_path, "GET", "/v1.41/tasks?filters=" + filters(bogus=["x"])))[
        2
    ] == b'{"message":"Invalid filter \'bogus\'"}\n'


async def test_it_drops_the_deprecated_event_fields_at_api_1_52(sim29: Simulator) -> None:
    sim29.fail_task(on_node(sim29, sim29.local_node_id), exit_code=2)
    sim29.scale(sim29.service_ids[0], 1)
    only = "&filters=" + filters(type=["container", "service"])
    status, headers, body = await call(
        sim29.socket_path, "GET", past_events("/v1.52") + only, headers={"Accept": "*/*"}
    )
    assert (status, headers["Content-Type"]) == (200, "application/x-ndjson")
    current = [json.loads(line) for line in body.splitlines()]
    died = next(e for e in current if e["Action"] == "die")
    assert list(died) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert not {"status", "id", "from"} & {key for event in current for key in event}
    asks_json = {"Accept": "application/json"}  # neither of the two offers: the default
    _, headers, body = await call(sim29.socket_path, "GET", past_events("/v1.51") + only, headers=asks_json)
    assert headers["Content-Type"] == "application/json"
    older = [json.loads(line) for line in body.splitlines()]
    died = next(e for e in older if e["Action"] == "die")
    assert (died["status"], died["id"], died["from"]) == (
        "die",
        died["Actor"]["ID"],
        died["Actor"]["Attributes"]["image"],
    )
    assert list(died) == sorted(died)  # merged back through a Go map: sorted keys
    service = next(e for e in older if e["Type"] == "service")
    assert "status" not in service and next(iter(service)) == "Type"
    _, headers, body = await call(
        sim29.socket_path, "GET", past_events() + only, headers={"Accept": "application/json-seq"}
    )
    assert headers["Content-Type"] == "application/json-seq"
    assert body.startswith(b"\x1e{") and body.count(b"\x1e") == len(current)


async def test_it_keeps_the_legacy_event_fields_first_on_engine_20_10(sim: Simulator) -> None:
    sim.fail_task(on_node(sim, sim.local_node_id), exit_code=2)
    _, headers, body = await call(sim.socket_path, "GET", past_events("/v1.41"), headers={"Accept": "*/*"})
    assert headers["Content-Type"] == "application/json"
    died = next(json.loads(line) for line in body.splitlines() if b'"die"' in line)
    assert list(died)[:4] == ["status", "id", "from", "Type"] and died["status"] == "die"


async def test_it_runs_engine_29_as_a_command() -> None:
    folder = tempfile.mkdtemp(prefix="sim-", dir="/tmp")
    path = f"{folder}/docker.sock"
    command = [sys.executable, "-m", "bench.simulator", "--socket", path, "--nodes", "2", "--tasks", "4"]
    command += ["--managers", "1", "--engine", "29", "--seconds", "30"]
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            assert b"as Engine 29.0.2 (API 1.52" in await proc.stderr.readline()
            status, _, body = await call(path, "GET", "/v1.41/info")
            assert (status, json.loads(body)["message"]) == (400, TOO_OLD.format("1.41"))
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
