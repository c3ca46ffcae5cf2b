"""What a swarm socket's view costs the server: a bounded number of distinct wall filters for
read-only screens, one projection per view and seq, and nothing left behind by a socket whose
connect failed half-way."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from dashboard import access, runtime
from dashboard.core.domain import Node, Service, Task
from dashboard.core.model import Snapshot, Status
from dashboard.live import hub as live_hub
from dashboard.live import views

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
PASSWORD = "a-long-password-1234"
NODE = Node("n1", "node-1", "worker", False, "", "ready", "", "10.77.0.5", "active", "27.0", "", 2.0, 2**31, ())
SERVICE = Service("s1", "shop_web", "shop", "web:1", "replicated", 1, 1, 1, "", "", (), (), "", "")
TASK = Task("t1", "s1", 1, "n1", "running", "running", "", "", None, "", "web:1", "", "", "", "")


@pytest.fixture
def model(static_model: Any) -> Any:
    static_model.snapshot = Snapshot.build(
        seq=1, status=Status(state="live"), nodes=[NODE], services=[SERVICE], tasks=[TASK]
    )
    return static_model


@pytest.fixture
async def opened() -> AsyncIterator[list[WebsocketCommunicator]]:
    """Sockets a test opens: closed at its end, whatever it asserts."""
    sockets: list[WebsocketCommunicator] = []
    yield sockets
    for socket in sockets:
        await socket.disconnect()


async def open_socket(
    opened: list[WebsocketCommunicator], query: str, cookie: str = ""
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A socket of /ws/swarm and its first frame."""
    from visualizer.asgi import application

    headers = [ORIGIN, *([(b"cookie", f"sessionid={cookie}".encode())] if cookie else [])]
    socket = WebsocketCommunicator(application, f"/ws/swarm{query}", headers=headers)
    opened.append(socket)
    connected, _ = await socket.connect(timeout=5)
    assert connected
    return socket, json.loads(await socket.receive_from(timeout=5))


def hub() -> live_hub.Hub:
    return live_hub.hub(runtime.swarm())


@override_settings(ANONYMOUS_READ_ONLY=True, KIOSK_FILTERS_PER_PROCESS=2)
async def test_read_only_screens_may_hold_only_so_many_distinct_wall_filters(
    model: Any, opened: list[WebsocketCommunicator]
) -> None:
    a, first = await open_socket(opened, "?stack=a")
    assert first["type"] == "snapshot"
    b, second = await open_socket(opened, "?stack=b")
    assert second["type"] == "snapshot"
    refused, said = await open_socket(opened, "?stack=c")
    assert "too many different wall filters" in said["error"] and "at most 2" in said["error"]
    assert await refused.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
    # a filter already in use, the whole swarm, and a signed-in user's filter all still open
    assert (await open_socket(opened, "?stack=a"))[1]["type"] == "snapshot"
    assert (await open_socket(opened, ""))[1]["type"] == "snapshot"
    user = await database_sync_to_async(get_user_model().objects.create_user)(username="vera", password=PASSWORD)
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    assert (await open_socket(opened, "?stack=d", client.cookies["sessionid"].value))[1]["type"] == "snapshot"
    # once a filter is let go, another may come
    await a.disconnect()
    opened.remove(a)
    assert sum(1 for v in hub().users if live_hub.limited(v)) == 2  # ?stack=a is still used by the other socket
    await b.disconnect()
    opened.remove(b)
    assert (await open_socket(opened, "?stack=c"))[1]["type"] == "snapshot"


@override_settings(ANONYMOUS_READ_ONLY=True)
async def test_sockets_of_one_view_at_one_seq_cost_one_projection(
    model: Any, opened: list[WebsocketCommunicator], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    node_counts, snapshot_parts = views.node_counts, views.snapshot_parts

    def counted_node_counts(*args: Any) -> Any:
        calls["node_counts"] += 1
        return node_counts(*args)

    def counted_parts(*args: Any) -> Any:
        calls["snapshot_parts"] += 1
        return snapshot_parts(*args)

    monkeypatch.setattr(views, "node_counts", counted_node_counts)
    monkeypatch.setattr(views, "snapshot_parts", counted_parts)
    sockets = [await open_socket(opened, "?stack=shop") for _ in range(3)]
    for _, first in sockets:
        assert [t["id"] for t in first["tasks"]] == ["t1"] and [n["id"] for n in first["nodes"]] == ["n1"]
    socket = sockets[0][0]
    await socket.send_to(text_data=json.dumps({"type": "resync"}))
    assert json.loads(await socket.receive_from(timeout=5))["tasks"][0]["id"] == "t1"
    assert calls == {"node_counts": 1, "snapshot_parts": 1}  # one pass over the tasks, for all four


class Broken(Exception):
    pass


def socket_tasks() -> set[asyncio.Task[Any]]:
    """The background tasks of swarm sockets still running (a kiosk's recheck polls the database every 3 s)."""
    names = ("kiosk-recheck", "swarm-socket-rejoin", "socket-session-recheck")
    return {t for t in asyncio.all_tasks() if t.get_name() in names and not t.done()}


@pytest.mark.parametrize("failing", ["the channel layer", "the model"])
async def test_a_socket_that_cannot_start_leaves_nothing_behind(
    failing: str, model: Any, opened: list[WebsocketCommunicator], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, clear = await database_sync_to_async(access.create_token)("hall", created_by="root")
    kiosk = Client()
    response = await database_sync_to_async(kiosk.get)(f"/?kiosk={clear}")
    assert response.status_code == 302
    cookie = kiosk.cookies["sessionid"].value
    others = socket_tasks()  # of sockets other tests left to the loop
    held, _ = await open_socket(opened, "?stack=shop", cookie)  # another screen of the same view
    [view] = hub().users
    before = socket_tasks()
    assert sorted(t.get_name() for t in before - others) == ["kiosk-recheck", "swarm-socket-rejoin"]

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise Broken(f"{failing} is away")

    if failing == "the channel layer":
        monkeypatch.setattr(get_channel_layer(), "group_add", fail)
    else:
        monkeypatch.setattr(type(runtime.swarm()), "first_sync", fail)
    from visualizer.asgi import application

    failed = WebsocketCommunicator(
        application, "/ws/swarm?stack=shop", headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]
    )
    opened.append(failed)
    connected, _ = await failed.connect(timeout=5)
    assert connected
    try:
        ended: object = await failed.receive_output(timeout=5)
    except Broken as e:  # before: the consumer died with the error, its view and its tasks left behind
        ended = e
    assert hub().users == {view: 1}  # only the other screen's
    assert socket_tasks() == before  # only the other screen's
    assert ended == {"type": "websocket.close", "code": 1011}
    await failed.disconnect()  # Channels tells the consumer of its disconnect: nothing is given back twice
    opened.remove(failed)
    assert hub().users == {view: 1}
    await held.disconnect()
    opened.remove(held)
    assert not hub().users and not socket_tasks() - others
