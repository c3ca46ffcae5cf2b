"""An access log that never writes a kiosk token: the URLs of wall screens carry one."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

log = logging.getLogger("dashboard.access")
_TOKEN = re.compile(r"(kiosk(?:=|%3D))(?:(?!&|%26).)*", re.IGNORECASE)  # plain, or encoded inside ?next=

Scope = dict[str, Any]


def scrub(query: str) -> str:
    return _TOKEN.sub(r"\1…", query)


class AccessLog:
    """ASGI middleware: one line per HTTP request and per websocket, tokens masked."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status: list[int] = []

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "websocket.accept":
                status.append(101)
            elif message["type"] == "websocket.close" and not status:
                status.append(int(message.get("code", 1000)))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            query = scrub(scope.get("query_string", b"").decode("latin-1"))
            client = scope.get("client") or ("-", 0)
            log.info(
                "%s %s %s%s %s %.0fms",
                client[0],
                scope.get("method", "WS"),
                scope.get("path", ""),
                f"?{query}" if query else "",
                status[0] if status else "-",
                (time.monotonic() - started) * 1000,
            )
