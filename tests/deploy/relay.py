"""A user's browser inside a lab node's network namespace, driven by a test on the host.

The host has no route to the lab's addresses; a test starts this script in a node's namespace and
talks to it through its stdin and stdout, one JSON object a line:

    ip netns exec NETNS python relay.py

Commands (each with an ``id``, answered by ``{"id": ..., ...}``):
    {"op": "login", "base": URL, "user": ..., "password": ...}  -> {"cookie": "sessionid=...; ..."}
    {"op": "get", "base": URL, "path": "/api/metrics", "cookie": ...}  -> {"status": 200, "json": {...}}
    {"op": "page", "base": URL, "cookie": ..., "page": NAME}  -> {"opened": true}, then unasked
        {"page": NAME, "frame": {...}} for every message of the grid's websocket and, when it ends,
        {"page": NAME, "closed": "why"}
Failures are answered as ``{"id": ..., "error": "..."}``. It ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=15)


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def login(base: str, user: str, password: str) -> dict[str, Any]:
    # unsafe: the lab's hosts are IP addresses, whose cookies aiohttp's jar refuses otherwise
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT) as session:
        async with session.get(f"{base}/accounts/login/") as r:
            page = await r.text()
            url = str(r.url)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise RuntimeError(f"no CSRF token on the login page {url}")
        form = {"csrfmiddlewaretoken": token.group(1), "username": user, "password": password}
        async with session.post(url, data=form, headers={"Referer": url}) as r:
            await r.read()
        cookies = {c.key: c.value for c in session.cookie_jar}
    if "sessionid" not in cookies:
        raise RuntimeError(f"signing in as {user!r} at {base} failed")
    return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


async def get(base: str, path: str, cookie: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(f"{base}{path}", headers={"Cookie": cookie}, allow_redirects=False) as r:
            body = await r.text()
            try:
                return {"status": r.status, "json": json.loads(body)}
            except ValueError:
                return {"status": r.status, "text": body[:500]}


async def page(base: str, cookie: str, name: str, opened: asyncio.Future[None]) -> None:
    """The grid's websocket, as the page opens it (with heartbeats); every frame relayed as it comes."""
    url = base.replace("http://", "ws://", 1) + "/ws/swarm?heartbeat=1"
    why = "ended"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, headers={"Cookie": cookie, "Origin": base}, max_msg_size=0) as ws:
                opened.set_result(None)
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    frame = json.loads(msg.data)
                    if frame.get("type") == "ping":  # the server's liveness check of a client that talks
                        await ws.send_json({"type": "pong", "id": frame.get("id")})
                    emit({"page": name, "frame": frame})
                why = f"closed {ws.close_code}"
    except Exception as e:
        why = f"{type(e).__name__}: {e}"
        if not opened.done():
            opened.set_exception(RuntimeError(why))
    emit({"page": name, "closed": why})


async def serve(command: dict[str, Any], pages: set[asyncio.Task[None]]) -> None:
    answer: dict[str, Any]
    try:
        op = command["op"]
        if op == "login":
            answer = await login(command["base"], command["user"], command["password"])
        elif op == "get":
            answer = await get(command["base"], command["path"], command.get("cookie", ""))
        elif op == "page":
            opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(page(command["base"], command.get("cookie", ""), command["page"], opened))
            pages.add(task)
            await opened
            answer = {"opened": True}
        else:
            answer = {"error": f"unknown op {op!r}"}
    except Exception as e:  # reported to the test, which says what happened
        answer = {"error": f"{type(e).__name__}: {e}"}
    emit({"id": command.get("id"), **answer})


async def main() -> None:
    loop = asyncio.get_running_loop()
    pages: set[asyncio.Task[None]] = set()
    running: set[asyncio.Task[None]] = set()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        task = asyncio.create_task(serve(json.loads(line), pages))
        running.add(task)
        task.add_done_callback(running.discard)
    for task in [*running, *pages]:
        task.cancel()
    await asyncio.gather(*running, *pages, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
