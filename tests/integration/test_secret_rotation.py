"""A secret rotation that fails part-way, on the real lab: it says which services moved, a retry
finishes the job without yet another version, and no service's own update policy is replaced.

Docker is reached through a small proxy that refuses one service's update the way a manager
refuses a concurrent change ("update out of sequence"); everything else passes through to the lab.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from dashboard import access, runtime
from dashboard.core.docker import DockerClient, Endpoint
from dashboard.models import AuditEntry
from tests.lab import DOCKER, Lab, Swarm

pytestmark = pytest.mark.django_db(transaction=True)


class RefusingProxy:
    """Forwards every request to the lab's manager, except updates of the services in ``refuse``."""

    def __init__(self, target: str, path: Path) -> None:
        self.target, self.path = target, path
        self.refuse: set[str] = set()
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        update = re.fullmatch(r"(/v[\d.]+)?/services/([a-z0-9]+)/update", request.path)
        if request.method == "POST" and update and update[2] in self.refuse:
            return web.json_response({"message": "rpc error: code = Unknown desc = update out of sequence"}, status=500)
        connector = aiohttp.UnixConnector(path=self.target)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.request(
                request.method, f"http://docker{request.path_qs}", data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type",)},
            ) as answer:  # fmt: skip
                body = await answer.read()
                return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    async def __aenter__(self) -> RefusingProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.path)).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def views_through(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RefusingProxy]:
    monkeypatch.setenv("DOCKER_HOST", lab.docker_host)  # the watcher: the lab itself
    await runtime.stop()
    async with RefusingProxy(lab.sock(1), tmp_path / "docker.sock") as proxy:
        runtime.swarm()._client = DockerClient(Endpoint(host=f"unix://{proxy.path}"))  # the views: through the proxy
        yield proxy
        await runtime.stop()


@database_sync_to_async
def operator() -> Any:
    user, _ = get_user_model().objects.get_or_create(username="rotator")
    access.set_role(user, "operator")
    return user


def uses(lab: Lab, service: str) -> list[str]:
    spec = lab.api(f"/services/{service}")["Spec"]
    return [r["SecretName"] for r in spec["TaskTemplate"]["ContainerSpec"].get("Secrets", [])]


async def test_a_rotation_refused_part_way_says_what_moved_and_a_retry_finishes_it(
    lab: Lab, swarm: Swarm, views_through: RefusingProxy
) -> None:
    name = swarm.create_secret("rot", b"first-value")
    swarm.secrets += [f"{name}.v2", f"{name}.v3", f"{name}.planted"]
    # someone with Docker access plants a secret that claims to be this one's next version
    planted = "planted-value"
    await asyncio.to_thread(
        subprocess.run,
        [DOCKER, "-H", lab.docker_host, "secret", "create", "--label", f"swarm-visualizer.rotated-from={name}",
         f"{name}.planted", "-"],
        input=planted.encode(), check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    first = await asyncio.to_thread(swarm.create_service, "a-user", extra=("--secret", f"source={name},target=db"))
    second = await asyncio.to_thread(swarm.create_service, "b-user", extra=("--secret", f"source={name},target=db"))
    ids = {n: await asyncio.to_thread(swarm.service_id, n) for n in (first, second)}
    watcher = runtime.swarm().watcher
    snap = await watcher.wait_for(
        lambda s: all(i in s.services for i in ids.values()) and any(x.name == name for x in s.secrets.values()), 20
    )
    secret_id = next(x.id for x in snap.secrets.values() if x.name == name)
    policy_before = {n: lab.api(f"/services/{i}")["Spec"].get("UpdateConfig", {}) for n, i in ids.items()}
    moved_first, refused = sorted(ids)  # the view moves them in name order
    views_through.refuse.add(ids[refused])

    client = AsyncClient()
    await client.aforce_login(await operator())
    url = f"/secrets/{secret_id}/rotate"
    await watcher.wait_for(lambda s: any(x.name == f"{name}.planted" for x in s.secrets.values()), 10)
    assert "made by an earlier rotation" not in (await client.get(url)).content.decode(), "a planted label is trusted"
    answer = await client.post(url, {"value": "second-value", "service": list(ids.values())})
    page = answer.content.decode()
    assert answer.status_code == 400
    assert f"{name}.v2 was created" in page and f"moved to it: {moved_first}" in page and f"refused: {refused}" in page
    assert "update out of sequence" in page
    assert uses(lab, ids[moved_first]) == [f"{name}.v2"] and uses(lab, ids[refused]) == [name]

    # the retry: no new value, the rest move to the version the first attempt made
    views_through.refuse.clear()
    await watcher.wait_for(lambda s: any(x.name == f"{name}.v2" for x in s.secrets.values()), 10)
    form = (await client.get(url)).content.decode()
    assert f"{name}.v2</strong>, made by an earlier rotation" in form
    v2 = next(x.id for x in watcher.snapshot.secrets.values() if x.name == f"{name}.v2")
    planted_id = next(x.id for x in watcher.snapshot.secrets.values() if x.name == f"{name}.planted")
    refused_answer = await client.post(url, {"reuse": planted_id, "service": [ids[refused]]})
    assert refused_answer.status_code == 400 and uses(lab, ids[refused]) == [name]
    both = await client.post(url, {"reuse": v2, "value": "third", "service": [ids[refused]]})
    assert both.status_code == 400 and "not both" in both.content.decode()
    answer = await client.post(url, {"reuse": v2, "service": [ids[refused]]})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert uses(lab, ids[refused]) == [f"{name}.v2"]
    names = {s["Spec"]["Name"] for s in lab.api("/secrets")}
    assert f"{name}.v3" not in names, "a retry created yet another version"
    # neither service's own update policy was replaced
    for n, i in ids.items():
        assert lab.api(f"/services/{i}")["Spec"].get("UpdateConfig", {}) == policy_before[n]
    rotations = await database_sync_to_async(
        lambda: list(AuditEntry.objects.filter(action="secret.rotate", target=name).values_list("detail", flat=True))
    )()
    assert [d.get("refused") for d in rotations if "refused" in d] == [refused]
    assert any(d.get("reused") is True and d.get("to_id") == v2 for d in rotations), rotations
