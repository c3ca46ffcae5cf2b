"""The socket's heartbeat: an idle swarm sends nothing, and a page must tell that from a dead line.

A socket of a wall stays open for weeks: it must stay in its groups (both channel layers forget a
member after ``group_expiry``) and daphne must not close it after a day; and what it says about the
model must include how long ago Docker last answered the dashboard, not only that the socket lives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from dashboard import runtime
from dashboard.live import fanout, views
from dashboard.live import swarm_socket as consumers
from dashboard.live.protocol import page_version

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
ROOT = Path(__file__).resolve().parents[2]
# a layer that forgets a group member after 1-2 s, as the real ones do after a day
FORGETFUL_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}}


async def open_socket(query: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    from visualizer.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/swarm{query}", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    first = json.loads(await communicator.receive_from(timeout=5))
    assert (first["type"], first["more"]) == ("snapshot", False)
    return communicator, first


@override_settings(ANONYMOUS_READ_ONLY=True, SWARM_HEARTBEAT_SECONDS=0.2)
async def test_it_sends_a_heartbeat_after_every_quiet_spell_to_a_socket_that_asks(static_model: Any) -> None:
    static_model.docker_age = lambda: 4.26
    communicator, _ = await open_socket("?heartbeat=1")
    beats = [json.loads(await communicator.receive_from(timeout=2)) for _ in range(2)]
    assert beats == [{"type": "heartbeat", "seq": 1, "epoch": 0, "state": "live", "every": 0.2, "docker_age": 4.3}] * 2
    assert len(json.dumps(beats[0], separators=(",", ":"))) < 100  # bytes, not kilobytes
    await communicator.disconnect()


@override_settings(ANONYMOUS_READ_ONLY=True, SWARM_HEARTBEAT_SECONDS=0.2)
async def test_it_tells_in_every_heartbeat_how_long_ago_docker_answered(static_model: Any) -> None:
    """The watcher's status may say "live" long after Docker stopped answering (a frozen daemon
    answers nothing until a request times out): the age lets the page judge for itself."""
    ages = iter([None, 3.0, 31.44])
    static_model.docker_age = lambda: next(ages)
    communicator, first = await open_socket("?heartbeat=1")
    assert first["docker_age"] is None  # never answered yet
    beats = [json.loads(await communicator.receive_from(timeout=2)) for _ in range(2)]
    assert [(b["state"], b["docker_age"]) for b in beats] == [("live", 3.0), ("live", 31.4)]
    await communicator.disconnect()


@override_settings(ANONYMOUS_READ_ONLY=True, SWARM_RECONCILE_SECONDS=8.0, SWARM_EVENTS_LIVENESS_SECONDS=60.0)
async def test_it_sends_docker_s_age_its_pace_and_the_page_version_with_the_model(static_model: Any) -> None:
    static_model.docker_age = lambda: 1.5
    communicator, first = await open_socket("")
    assert first["docker_age"] == 1.5
    assert first["docker_every"] == 8.0  # an idle swarm's reconcile is when Docker is heard from
    assert first["version"] == page_version() and len(first["version"]) == 16
    await communicator.disconnect()


def test_it_names_the_page_scripts_and_styles_by_their_contents(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "static" / "dashboard").iterdir()):
        data = path.read_bytes()
        digest.update(f"dashboard/{path.name}\0{len(data)}\0".encode() + data)
    assert page_version() == digest.hexdigest()[:16]
    monkeypatch.setenv("PAGE_VERSION_SALT", "another build")
    page_version.cache_clear()
    try:
        assert page_version() != digest.hexdigest()[:16]
    finally:
        monkeypatch.delenv("PAGE_VERSION_SALT")
        page_version.cache_clear()


@override_settings(ANONYMOUS_READ_ONLY=True, SWARM_HEARTBEAT_SECONDS=0.2)
async def test_it_sends_no_heartbeat_to_a_socket_that_does_not_ask(static_model: Any) -> None:
    communicator, _ = await open_socket("")
    assert await communicator.receive_nothing(timeout=0.6)
    await communicator.disconnect()


async def patch_reaches(communicator: WebsocketCommunicator, seq: int) -> bool:
    text = json.dumps({"type": "patch", "base_seq": seq - 1, "seq": seq})
    # an anonymous socket is in its read-only view's group (dashboard.live.views), not the swarm's
    group = views.group_of(runtime.swarm().group, views.View(read_only=True, labels=False, addresses=False))
    fanout.publish(group, text)
    try:
        return bool(json.loads(await communicator.receive_from(timeout=1))["seq"] == seq)
    except TimeoutError:
        return False


@override_settings(ANONYMOUS_READ_ONLY=True, CHANNEL_LAYERS=FORGETFUL_LAYER)
async def test_it_joins_its_groups_again_before_the_layer_forgets_it(
    static_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "REJOIN_SECONDS", 0.3, raising=False)
    communicator, _ = await open_socket("")
    assert await patch_reaches(communicator, 2)
    await asyncio.sleep(3)  # the layer's group_expiry has passed several times over
    assert await patch_reaches(communicator, 3)
    await communicator.disconnect()


@override_settings(ANONYMOUS_READ_ONLY=True, CHANNEL_LAYERS=FORGETFUL_LAYER)
async def test_it_joins_its_groups_again_on_a_resync(static_model: Any) -> None:
    """A page resyncs when it sees a gap: the patches it missed may mean its socket left the group."""
    communicator, _ = await open_socket("")
    await asyncio.sleep(3)
    await communicator.send_to(text_data='{"type": "resync"}')
    assert json.loads(await communicator.receive_from(timeout=5))["type"] == "snapshot"
    assert await patch_reaches(communicator, 2)
    await communicator.disconnect()


def fake_program(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_it_starts_daphne_without_its_daily_websocket_timeout(tmp_path: Path) -> None:
    """daphne closes every websocket after 86400 s by default: a wall would flash its alarm daily."""
    args = tmp_path / "daphne-args"
    record = f'printf "%s\\n" "$@" > "{args}"'
    # the image's entrypoint, with a python that does nothing but say how the server (visualizer.serve,
    # daphne's command line) was called
    serve = f'if [ "$1 $2" = "-m visualizer.serve" ]; then shift 2; {record}; fi'
    fake_program(tmp_path / "image" / "python", f"{serve}\nexit 0")
    env = {**os.environ, "PATH": f"{tmp_path / 'image'}:{os.environ['PATH']}"}
    subprocess.run(["sh", str(ROOT / "deploy" / "entrypoint.sh")], env=env, check=True, timeout=30)
    assert "--websocket_timeout\n-1\n" in args.read_text()
    args.unlink()
    # ./sv run, with a virtualenv whose python answers "one user" and says how the server was called
    venv = tmp_path / "venv"
    fake_program(venv / "bin" / "python", f"{serve}\necho 1")

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    requirements = (ROOT / "requirements.txt").read_bytes()
    stamp = f"{sha(requirements + (ROOT / 'pyproject.toml').read_bytes())}-{sha(requirements)}"
    (venv / ".stamp-requirements.txt").write_text(f"{stamp}\n")
    subprocess.run(
        [str(ROOT / "sv"), "run"], env={**os.environ, "VENV": str(venv), "PORT": "1"}, check=True, timeout=30
    )
    assert "--websocket_timeout\n-1\n" in args.read_text()
