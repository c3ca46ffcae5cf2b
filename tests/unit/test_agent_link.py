"""The agent's side of the handshake, against real aiohttp servers on loopback: the bearer token on
the handshake, the welcome's period within bounds, and a refusal said clearly, without the token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from dashboard.agent.config import AgentSettings
from dashboard.agent.link import LinkFailed, LinkRefused, open_link
from dashboard.agent.messages import PROTOCOL, Hello
from tests.agentdash import AgentDashboard

pytestmark = pytest.mark.asyncio(loop_scope="function")

TOKEN = "the-right-token-0123456789"
HELLO = Hello(type="hello", protocol=PROTOCOL, node_id="n1", hostname="swarm-n1", engine="20.10.24", agent="0.1.0")


@pytest_asyncio.fixture(loop_scope="function")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def settings(url: str, token: str = TOKEN) -> AgentSettings:
    return AgentSettings(dashboard_url=f"{url}/ws/agent", token=token)


async def test_it_says_hello_with_the_bearer_token_and_takes_the_welcomes_period(
    session: aiohttp.ClientSession,
) -> None:
    dash = AgentDashboard(TOKEN, stats_every=0.01).start()
    try:
        link = await open_link(session, settings(dash.url), HELLO)
        assert link.stats_every == 1.0  # a period below the agent's floor is raised to it
        await link.close()
        assert dash.authorizations == [f"Bearer {TOKEN}"] and dash.of_type("hello") == [HELLO]
    finally:
        dash.stop()


async def test_a_wrong_token_closed_with_4401_is_a_refusal_that_names_the_setting_not_the_token(
    session: aiohttp.ClientSession,
) -> None:
    dash = AgentDashboard(TOKEN).start()
    wrong = "not-the-token-9876543210"
    try:
        with pytest.raises(LinkRefused) as refused:
            await open_link(session, settings(dash.url, wrong), HELLO)
        assert refused.value.code == 4401
        assert "refused this agent's token (close 4401)" in str(refused.value) and "AGENT_TOKEN" in str(refused.value)
        assert wrong not in str(refused.value)
    finally:
        dash.stop()


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/ws/agent", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


async def test_a_handshake_answered_403_is_a_refusal_and_a_non_welcome_a_failure(
    session: aiohttp.ClientSession,
) -> None:
    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403)

    async def chatty(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str('{"type": "welcome", "stats_every": "soon"}')
        await ws.receive()
        return ws

    for handler, error, says in [
        (forbidden, LinkRefused, r"refused the handshake \(HTTP 403\)"),
        (chatty, LinkFailed, "something else than a welcome"),
    ]:
        runner, url = await serve(handler)
        try:
            with pytest.raises(error, match=says) as e:
                await open_link(session, settings(url), HELLO)
            assert TOKEN not in str(e.value)
        finally:
            await runner.cleanup()
