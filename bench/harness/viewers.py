"""Websocket viewers of /ws/swarm, counting what they receive."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.harness.daphne import Dashboard


@dataclass
class WsViewer:
    """One websocket viewer of /ws/swarm, as the page's script is: signed in, with an Origin header."""

    messages: int = 0
    patches: int = 0
    bytes: int = 0
    snapshot_done: bool = False
    closed: str = ""


async def ws_viewer(dash: Dashboard, viewer: WsViewer, stop: Any) -> None:
    """Read every frame until ``stop`` (an asyncio.Event) is set."""
    import asyncio

    import aiohttp

    headers = {"Cookie": dash.cookie, "Origin": dash.url}
    url = dash.url.replace("http://", "ws://") + "/ws/swarm"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, headers=headers, max_msg_size=0, heartbeat=None) as ws:
            reader = asyncio.ensure_future(ws.receive())
            waiter = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    done, _ = await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
                    if waiter in done:
                        break
                    msg = reader.result()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        viewer.closed = str(msg.type)
                        break
                    viewer.messages += 1
                    viewer.bytes += len(msg.data)
                    kind = json.loads(msg.data).get("type")
                    if kind == "patch":
                        viewer.patches += 1
                    elif kind in ("snapshot", "tasks") and not json.loads(msg.data).get("more"):
                        viewer.snapshot_done = True
                    reader = asyncio.ensure_future(ws.receive())
            finally:
                reader.cancel()
                waiter.cancel()
