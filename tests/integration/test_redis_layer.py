"""The channel layer on a real Redis: sockets that see nothing for a minute stay open.

channels-redis waits for a socket's next message with a blocking pop of 5 s at a time; redis-py 8
reads every reply with a 5 s socket timeout by default, so on an idle swarm the wait failed with
TimeoutError and daphne closed every socket with 1011 after about five seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from bench.harness.daphne import Dashboard
from tests.lab import Lab
from tests.redisd import RedisServer

IDLE_SECONDS = 62.0


async def _idle_then_ping(dash: Dashboard, idle: float) -> tuple[str, dict[str, Any]]:
    """Open /ws/swarm, read the model, send nothing for ``idle`` seconds, then ping: what came back.
    The socket is read all along (as a page does: that is what answers daphne's pings)."""
    url = dash.url.replace("http://", "ws://") + "/ws/swarm"
    frames: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            url, headers={"Cookie": dash.cookie, "Origin": dash.url}, max_msg_size=0, heartbeat=None
        ) as ws:

            async def read() -> None:
                async for msg in ws:
                    await frames.put(msg)
                await frames.put(aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, ws.close_code, None))

            reader = asyncio.create_task(read())
            try:
                while True:  # the model, in as many frames as it takes
                    msg = await asyncio.wait_for(frames.get(), 30)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return f"closed before the model: {msg.type.name} {ws.close_code}", {}
                    frame = json.loads(msg.data)
                    if frame["type"] in ("snapshot", "tasks") and not frame["more"]:
                        break
                await asyncio.sleep(idle)
                while not frames.empty():  # what came meanwhile: a patch if the lab moved, or the close
                    msg = frames.get_nowait()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return f"closed while idle: {msg.type.name} {ws.close_code}", {}
                await ws.send_str(json.dumps({"type": "ping"}))
                for _ in range(100):
                    msg = await asyncio.wait_for(frames.get(), 10)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return f"closed after the ping: {msg.type.name} {ws.close_code}", {}
                    frame = json.loads(msg.data)
                    if frame["type"] == "pong":
                        return "open", frame
                return "no pong", {}
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)


@pytest.mark.asyncio(loop_scope="function")
async def test_idle_sockets_stay_open_for_a_minute_on_redis(lab: Lab, redis_server: RedisServer) -> None:
    env = {"REDIS_URL": redis_server.url}
    with Dashboard(lab.docker_host, env=env) as one, Dashboard(lab.docker_host, env=env) as two:
        results = await asyncio.wait_for(
            asyncio.gather(_idle_then_ping(one, IDLE_SECONDS), _idle_then_ping(two, IDLE_SECONDS)),
            timeout=IDLE_SECONDS + 90,
        )
        for dash, (state, pong) in zip((one, two), results, strict=True):
            assert state == "open", f"{state}\n{dash.log.read_text()[-3000:]}"
            assert pong["seq"] >= 0
            assert "TimeoutError" not in dash.log.read_text()
