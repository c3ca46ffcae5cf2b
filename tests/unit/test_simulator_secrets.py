"""bench.simulator keeps secrets and configs as swarm does, and rotates a service's secret through an update."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from bench.simulator import Simulator
from dashboard.core.docker import DockerClient, Endpoint
from tests.unit import simulator_helpers
from tests.unit.simulator_helpers import call, filters, now, serving, settled

# the simulators these tests run against: pytest fixtures shared in simulator_helpers
sim, sim29 = simulator_helpers.sim, simulator_helpers.sim29


@pytest.mark.parametrize("engine", ["20.10", "29"])
async def test_it_creates_lists_and_inspects_secrets_without_ever_showing_their_data(engine: str) -> None:
    sim = Simulator(nodes=2, tasks=4, managers=1, engine=engine, step_delay=0)
    async with serving(sim) as path:
        data = base64.b64encode(b"hunter2").decode()
        status, _, body = await call(
            path, "POST", "/secrets/create", {"Name": "db_password", "Labels": {"app": "shop"}, "Data": data}
        )
        assert status == 201 and list(json.loads(body)) == ["ID"]
        created = json.loads(body)["ID"]
        other = sim.create_secret("api_key", b"k3y")
        _, _, body = await call(path, "GET", "/secrets")
        listed = json.loads(body)
        assert sorted(s["Spec"]["Name"] for s in listed) == ["api_key", "db_password"]
        assert b"hunter2" not in body and data.encode() not in body and all("Data" not in s["Spec"] for s in listed)
        mine = next(s for s in listed if s["ID"] == created)
        assert list(mine) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec"]
        assert mine["Spec"] == {"Name": "db_password", "Labels": {"app": "shop"}}
        for wanted, expected in (
            (filters(name=["db"]), [created]),
            (filters(names=["api_key"]), [other]),
            (filters(id=[other[:6]]), [other]),
            (filters(label=["app=shop"]), [created]),
        ):
            assert [s["ID"] for s in json.loads((await call(path, "GET", "/secrets?filters=" + wanted))[2])] == expected
        for ref in (created, "db_password", created[:8]):
            status, _, body = await call(path, "GET", f"/v{sim.profile.api}/secrets/{ref}")
            assert (status, json.loads(body)) == (200, mine)
        status, _, body = await call(path, "GET", "/secrets/nope")
        assert (status, json.loads(body)) == (404, {"message": "secret nope not found"})


async def test_it_refuses_a_duplicate_or_malformed_secret_as_swarm_does(sim29: Simulator) -> None:
    sim29.create_secret("token", b"one")
    path = sim29.socket_path
    duplicate = {"Name": "token", "Data": base64.b64encode(b"two").decode()}
    status, _, body = await call(path, "POST", "/secrets/create", duplicate)
    assert (status, json.loads(body)) == (
        409,
        {"message": "rpc error: code = AlreadyExists desc = secret token already exists"},
    )
    status, _, body = await call(path, "POST", "/secrets/create", {"Name": "bad name", "Data": "eA=="})
    assert status == 400 and "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed" in json.loads(body)["message"]
    status, _, body = await call(path, "POST", "/secrets/create", {"Name": "empty"})
    message = "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"
    assert (status, json.loads(body)) == (400, {"message": message})
    assert [s["Spec"]["Name"] for s in json.loads((await call(path, "GET", "/secrets"))[2])] == ["token"]


async def test_it_refuses_to_remove_a_secret_a_service_uses(sim: Simulator) -> None:
    secret = sim.create_secret("db_password", b"hunter2")
    service = sim.create_service("shop_api", replicas=2, secrets=["db_password"])
    since = now()
    status, _, body = await call(sim.socket_path, "DELETE", f"/secrets/{secret}")
    message = (
        "rpc error: code = InvalidArgument desc = secret 'db_password' is in use by the following service: shop_api"
    )
    assert (status, json.loads(body)) == (400, {"message": message})
    sim.remove_service(service)
    status, _, body = await call(sim.socket_path, "DELETE", f"/v1.41/secrets/{secret}")
    assert (status, body) == (204, b"")
    assert (await call(sim.socket_path, "GET", f"/secrets/{secret}"))[0] == 404
    _, _, body = await call(
        sim.socket_path, "GET", f"/events?since={since}&until={now()}&filters=" + filters(type=["secret"])
    )
    assert [(e["Action"], e["Actor"]["ID"]) for e in map(json.loads, body.splitlines())] == [("remove", secret)]


async def test_it_serves_configs_with_their_data(sim29: Simulator) -> None:
    path = sim29.socket_path
    status, _, body = await call(
        path, "POST", "/v1.52/configs/create", {"Name": "nginx.conf", "Data": base64.b64encode(b"worker 1;\n").decode()}
    )
    assert status == 201
    config = json.loads(body)["ID"]
    _, _, body = await call(path, "GET", f"/configs/{config}")
    assert base64.b64decode(json.loads(body)["Spec"]["Data"]) == b"worker 1;\n"
    assert [
        c["ID"] for c in json.loads((await call(path, "GET", "/configs?filters=" + filters(name=["nginx"])))[2])
    ] == [config]
    status, _, body = await call(path, "GET", "/configs?filters=" + filters(names=["x"]))
    assert (status, json.loads(body)) == (400, {"message": "invalid filter 'names'"})  # configs take no "names"
    status, _, _ = await call(path, "POST", "/configs/create", {"Name": "nginx.conf", "Data": "eA=="})
    assert status == 409


# --- service updates --------------------------------------------------------------------------------


def _rotated(sim: Simulator, service_id: str, new_id: str, new_name: str) -> tuple[int, dict[str, Any]]:
    """What a client sends to swap a service's secret: the current spec, edited, with the current version."""
    current = sim.service(service_id)
    spec = current["Spec"]
    ref = spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    ref["SecretID"], ref["SecretName"] = new_id, new_name
    return current["Version"]["Index"], spec


@pytest.mark.parametrize("engine", ["20.10", "29"])
async def test_it_rotates_a_secret_through_a_service_update(engine: str) -> None:
    sim = Simulator(nodes=3, tasks=6, managers=1, engine=engine, step_delay=0.01)
    async with serving(sim) as path:
        old = sim.create_secret("db_password", b"hunter2")
        service = sim.create_service("shop_api", replicas=3, secrets=["db_password"])
        await settled(lambda: len(sim.task_ids(service_id=service, state="running")) == 3)
        before = {sim.task(t)["Slot"]: t for t in sim.task_ids(service_id=service)}
        new = sim.create_secret("db_password_v2", b"correct horse")
        version, spec = _rotated(sim, service, new, "db_password_v2")
        since = now()
        status, _, body = await call(path, "POST", f"/services/{service}/update?version={version}", spec)
        assert (status, json.loads(body)) == (200, {"Warnings": None})
        shown = sim.service(service)
        assert "UpdateStatus" not in shown  # reset by the update; the updater sets it a moment later
        assert shown["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == new
        assert shown["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == old
        assert shown["Version"]["Index"] > version
        await settled(lambda: sim.service(service).get("UpdateStatus", {}).get("State") == "completed")
        tasks = [sim.task(t) for t in sim.task_ids(service_id=service)]
        current = [t for t in tasks if t["DesiredState"] == "running"]
        assert sorted(t["Slot"] for t in current) == [1, 2, 3]
        assert {t["Spec"]["ContainerSpec"]["Secrets"][0]["SecretName"] for t in current} == {"db_password_v2"}
        assert {t["Status"]["State"] for t in current} == {"running"}
        assert {sim.task(t)["Status"]["State"] for t in before.values()} == {"shutdown"}
        assert not set(before.values()) & {t["ID"] for t in current}
        _, _, body = await call(
            path, "GET", f"/events?since={since}&until={now()}&filters=" + filters(type=["service"])
        )
        states = [json.loads(line)["Actor"]["Attributes"].get("updatestate.new", "") for line in body.splitlines()]
        assert states == ["", "updating", "completed"]
        status, _, body = await call(path, "DELETE", f"/secrets/{old}")  # nothing uses it any more
        assert status == 204


async def test_it_refuses_an_update_out_of_sequence_or_naming_a_missing_secret(sim: Simulator) -> None:
    sim.create_secret("db_password", b"hunter2")
    service = sim.create_service("shop_api", secrets=["db_password"])
    version, spec = _rotated(sim, service, sim.create_secret("v2", b"x"), "v2")
    status, _, body = await call(sim.socket_path, "POST", f"/services/{service}/update?version={version - 1}", spec)
    assert (status, json.loads(body)) == (500, {"message": "rpc error: code = Unknown desc = update out of sequence"})
    _, missing = _rotated(sim, service, "nosuchsecret0000000000000", "ghost")
    status, _, body = await call(sim.socket_path, "POST", f"/services/{service}/update?version={version}", missing)
    assert (status, json.loads(body)) == (
        400,
        {"message": "rpc error: code = InvalidArgument desc = secret not found: ghost"},
    )
    status, _, body = await call(sim.socket_path, "POST", f"/services/{service}/update", spec)
    message = "invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax"
    assert (status, json.loads(body)) == (400, {"message": message})
    assert sim.service(service)["Version"]["Index"] == version  # nothing changed


async def test_it_scales_through_an_update_without_rolling_the_tasks(sim: Simulator) -> None:
    service = sim.create_service("web", replicas=2)
    first = set(sim.task_ids(service_id=service))
    current = sim.service(service)
    current["Spec"]["Mode"]["Replicated"]["Replicas"] = 4
    status, _, _ = await call(
        sim.socket_path, "POST", f"/services/{service}/update?version={current['Version']['Index']}", current["Spec"]
    )
    assert status == 200
    running = set(sim.task_ids(service_id=service, desired_state="running"))
    assert first < running and len(running) == 4 and "UpdateStatus" not in sim.service(service)


async def test_it_lets_the_dashboards_client_negotiate_and_rotate_a_secret_on_engine_29(sim29: Simulator) -> None:
    old = sim29.create_secret("db_password", b"hunter2")
    service = sim29.create_service("shop_api", replicas=2, secrets=["db_password"])
    async with DockerClient(Endpoint(host="unix://" + sim29.socket_path)) as docker:
        assert (await docker.check_manager())["ServerVersion"] == "29.0.2"
        assert docker.api_version == "1.52"
        new = await docker.create_secret("db_password_v2", {}, b"correct horse")
        assert await docker.swap_service_secret(service, old, new, "db_password_v2") == 1
        await settled(lambda: sim29.service(service).get("UpdateStatus", {}).get("State") == "completed")
        running = [sim29.task(t) for t in sim29.task_ids(service_id=service, desired_state="running")]
        assert {t["Spec"]["ContainerSpec"]["Secrets"][0]["SecretID"] for t in running} == {new}
        await docker.remove_secret(old)
        assert [s.name for s in await docker.secrets()] == ["db_password_v2"]
    assert sim29.requests["POST /services/{id}/update"] == 1
