"""The client's address, believed from a proxy's headers only as far as that proxy is trusted.

``X-Forwarded-For`` is a list that every proxy appends to: its left end is whatever the client wrote.
Only the entries appended by proxies we trust are worth anything, so the address is found by walking
from the right: start at the connection's peer; while the address at hand is a trusted proxy, step one
entry left. The first address that is not a trusted proxy is the client. With no trusted proxy
configured the header is never read. ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` follow the same
rule: from an untrusted peer they are removed before Django (``SECURE_PROXY_SSL_HEADER``,
``USE_X_FORWARDED_HOST``) can read them.

daphne must run without ``--proxy-headers``: that takes the leftmost entry and loses the peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# the connection's own peer, kept in the scope before "client" is replaced with the resolved address
PEER_KEY = "visualizer.peer"
# every header a proxy may use to say where a request came from: none of them is believed from a peer
# that is not a trusted proxy, and nothing in the app reads the ones past the first three
_FORWARDED = (
    b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port", b"x-forwarded-prefix",
    b"x-forwarded-server", b"x-real-ip", b"forwarded",
)  # fmt: skip
# from a trusted peer, each of these stays as one value (the last, its nearest proxy's): Django reads the
# first of a repeated header, the middleware the last - they must not disagree
_SINGLE = (b"x-forwarded-proto", b"x-forwarded-host")


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.5``, ``10.1.0.0/24``, ``::1``; raises ValueError on anything else."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def parse_address(text: str) -> Address | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:5678``), IPv4-mapped
    IPv6 as IPv4; None for anything else (``unknown``, a name, junk)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    if "%" in text:
        return None  # an IPv6 zone (fe80::1%eth0) is text anyone can choose: not an address we log or key on
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address.version == n.version and address in n for n in trusted)


def resolve(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then walk ``forwarded_for``
    (every X-Forwarded-For header's entries, in order) from the right past trusted proxies.

    An entry that is no address stops the walk at the proxy that wrote it: the answer is always an
    address a trusted proxy vouched for, never text a client chose.
    """
    current = parse_address(peer)
    if current is None:
        return peer
    for entry in reversed(forwarded_for):
        if not is_trusted(current, trusted):
            break
        previous = parse_address(entry)
        if previous is None:
            break
        current = previous
    return str(current)


def forwarded_entries(values: Iterable[str]) -> list[str]:
    """The entries of one or more X-Forwarded-For headers, left to right (repeated headers join)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class ClientAddress:
    """ASGI middleware: ``scope["client"]`` becomes the resolved client address for HTTP and websockets
    (so Django's REMOTE_ADDR, the access log, the lockout and the audit log all see the same one); the
    peer stays under ``PEER_KEY``. From a trusted peer, ``X-Forwarded-Proto`` also sets the scheme."""

    def __init__(self, app: Any, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self.rewrite(scope)
        await self.app(scope, receive, send)

    def rewrite(self, scope: dict[str, Any]) -> dict[str, Any]:
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        if not is_trusted(parse_address(peer), self.trusted):
            # nothing a client wrote in these headers reaches the app
            kept = [(k, v) for k, v in headers if k.lower() not in _FORWARDED]
            return {**scope, "headers": kept, PEER_KEY: peer}
        last = {k.lower(): v for k, v in headers if k.lower() in _SINGLE}
        headers = [(k, v) for k, v in headers if k.lower() not in _SINGLE] + list(last.items())
        values = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
        address = resolve(peer, forwarded_entries(values), self.trusted)
        changed: dict[str, Any] = {PEER_KEY: peer, "headers": headers}
        if address != peer:
            changed["client"] = (address, 0)
        proto = [v.decode("latin-1").strip().lower() for k, v in headers if k.lower() == b"x-forwarded-proto"]
        if proto and proto[-1] in ("http", "https"):
            secure = proto[-1] == "https"
            changed["scheme"] = (
                ("https" if secure else "http") if scope["type"] == "http" else ("wss" if secure else "ws")
            )
        return {**scope, **changed}


def peer(request: HttpRequest) -> str:
    """The address of the connection itself (the nearest proxy, or the client when there is none)."""
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and PEER_KEY in scope:
        return str(scope[PEER_KEY])
    return str(request.META.get("REMOTE_ADDR", ""))
