"""A user's first minute with a deployed dashboard, standard library only.

Signs in, reads /api/snapshot and opens the grid's websocket. Tests import it on the host (loopback)
and run it as a script inside a lab node's network namespace, where the lab's addresses are reachable:

    ip netns exec NETNS python3 probe.py http://198.51.100.11:8080/prefix USER   (password in PROBE_PASSWORD)
    ip netns exec NETNS python3 probe.py --who http://198.51.100.11:8080         (checks in PROBE_WHO)

The second form asks who gets in: PROBE_WHO is a JSON object, label -> ["user", name, password] or
["kiosk", token]; the answer maps each label to what happened (see who_gets_in).

It prints one JSON object; failures are reported in it, not raised, so the test can say what happened.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import socket
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class Session:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes, str]:
        """status, headers, body and the final URL (after redirects)"""
        try:
            with self.opener.open(self.base + path, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read(), r.geturl()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read(), e.geturl()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def login(self, user: str, password: str) -> str:
        """Sign in through the login form; returns the URL the form sent the browser to."""
        final = self.post_login(user, password)
        if self.cookie("sessionid") is None:
            raise RuntimeError(f"signing in as {user!r} failed (ended at {final})")
        return final

    def post_login(self, user: str, password: str) -> str:
        """Fill in and send the login form, whatever the answer; returns the URL it ended at."""
        _, _, body, url = self.get("/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if not match:
            raise RuntimeError(f"no CSRF token on the login page {url}")
        # post where the form says, as a browser does: under a URL prefix that is the prefixed path
        action = re.search(rb'<form method="post" action="([^"]*)"', body)
        target = urllib.parse.urljoin(url, action.group(1).decode()) if action and action.group(1) else url
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1).decode(), "username": user, "password": password}
        ).encode()
        request = urllib.request.Request(target, data=form, headers={"Referer": url})  # noqa: S310 - http only
        try:
            with self.opener.open(request, timeout=10) as r:
                return str(r.geturl())
        except urllib.error.HTTPError as e:  # a refused sign-in may be a 4xx: the caller judges by what follows
            return str(e.geturl())


def first_ws_message(
    base: str, session_id: str = "", *, cookies: str = "", query: str = "", timeout: float = 15
) -> dict[str, Any]:
    """Open ``<base>/ws/swarm`` as the grid page does and return its first message."""
    url = urllib.parse.urlsplit(base.rstrip("/") + "/ws/swarm")
    host, port = url.hostname or "127.0.0.1", url.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    cookie = cookies or f"sessionid={session_id}"
    head = (
        f"GET {url.path}{f'?{query}' if query else ''} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{url.netloc}\r\nCookie: {cookie}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(head.encode())
        reader = s.makefile("rb")
        status = reader.readline().decode("latin-1").strip()
        while reader.readline() not in (b"\r\n", b""):
            pass
        if " 101 " not in f"{status} ":
            raise RuntimeError(f"websocket refused: {status}")
        message = b""
        while True:
            b0, b1 = _read(reader, 2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", _read(reader, 2))[0]
            elif length == 127:
                length = struct.unpack(">Q", _read(reader, 8))[0]
            payload = _read(reader, length)
            opcode = b0 & 0x0F
            if opcode == 8:
                raise RuntimeError(f"websocket closed by the server: {payload[:2].hex()} {payload[2:]!r}")
            if opcode in (0, 1):
                message += payload
                if b0 & 0x80:
                    s.sendall(b"\x88\x80" + os.urandom(4))  # close, masked as every client frame must be
                    return dict(json.loads(message))


def _read(reader: Any, n: int) -> bytes:
    data = reader.read(n)
    if len(data) != n:
        raise RuntimeError("websocket ended early")
    return bytes(data)


def probe(base: str, user: str, password: str) -> dict[str, Any]:
    out: dict[str, Any] = {"base": base}
    try:
        session = Session(base)
        status, _, body, _ = session.get("/healthz")
        out["healthz"] = status
        out["after_login"] = session.login(user, password)
        status, _, body, _ = session.get("/api/snapshot")
        out["snapshot_status"] = status
        if status == 200:
            snapshot = json.loads(body)
            out["snapshot_nodes"] = sorted(n["hostname"] for n in snapshot["nodes"])
            out["snapshot_agents"] = sorted(n["hostname"] for n in snapshot["nodes"] if n.get("agent"))
        message = first_ws_message(base, session.cookie("sessionid") or "")
        out["ws_type"] = message.get("type")
        out["ws_nodes"] = sorted(n["hostname"] for n in message.get("nodes", []))
    except Exception as e:  # reported to the test, which says what happened
        out["error"] = f"{type(e).__name__}: {e}"
    return out


def signs_in(base: str, user: str, password: str) -> bool:
    """Whether the login form lets ``user`` in: /api/snapshot answers afterwards, not the login page."""
    session = Session(base)
    session.post_login(user, password)
    status, _, _, final = session.get("/api/snapshot")
    return status == 200 and urllib.parse.urlsplit(final).path.endswith("/api/snapshot")


def kiosk_gets_in(base: str, token: str) -> dict[str, str]:
    """What a wall screen opening its kiosk URL gets: the grid or the login page, and a websocket or a refusal."""
    session = Session(base)
    status, _, _, final = session.get(f"/?kiosk={urllib.parse.quote(token)}")
    path = urllib.parse.urlsplit(final).path
    page = "login" if "/accounts/login/" in path else "grid" if status == 200 and path.endswith("/") else f"{status}"
    try:
        # the page's cookies (a kiosk session, if the token was exchanged for one) and the token itself
        message = first_ws_message(base, cookies=session.cookie_header(), query=f"kiosk={urllib.parse.quote(token)}")
        ws = str(message.get("type"))
    except (RuntimeError, OSError):
        ws = "refused"
    return {"page": page, "ws": ws}


def who_gets_in(base: str, checks: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, check in checks.items():
        try:
            out[label] = signs_in(base, check[1], check[2]) if check[0] == "user" else kiosk_gets_in(base, check[1])
        except Exception as e:  # reported to the test, which says what happened
            out[label] = f"{type(e).__name__}: {e}"
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--who":
        print(json.dumps(who_gets_in(sys.argv[2], json.loads(os.environ["PROBE_WHO"]))))
    else:
        print(json.dumps(probe(sys.argv[1], sys.argv[2], os.environ["PROBE_PASSWORD"])))
