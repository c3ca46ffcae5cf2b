"""The client's address from X-Forwarded-For, walked from the right past trusted proxies only."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from dashboard.access.proxies import ClientAddress, forwarded_entries, parse_address, parse_networks, resolve
from visualizer.env import env_networks

TRUSTED = parse_networks(["10.0.0.0/8", "fd00::/8", "127.0.0.1"])

trusted_v4 = st.builds(lambda n: str(ipaddress.IPv4Address(0x0A000000 + n)), st.integers(0, 2**24 - 1))
untrusted_v4 = st.builds(lambda n: str(ipaddress.IPv4Address(0xC0000200 + n)), st.integers(0, 255))  # 192.0.2.0/24
anything = st.one_of(trusted_v4, untrusted_v4, st.text(max_size=20).filter(lambda t: "," not in t))


def test_it_takes_the_peer_and_never_reads_the_header_from_an_untrusted_peer() -> None:
    assert resolve("192.0.2.1", ["10.0.0.1"], TRUSTED) == "192.0.2.1"
    assert resolve("192.0.2.1", ["10.0.0.1"], ()) == "192.0.2.1"
    assert resolve("10.0.0.1", ["192.0.2.9"], ()) == "10.0.0.1", "no trusted proxies: the header is never read"


def test_it_walks_from_the_right_past_trusted_proxies() -> None:
    assert resolve("127.0.0.1", ["192.0.2.7"], TRUSTED) == "192.0.2.7"
    assert resolve("127.0.0.1", ["10.1.1.1", "192.0.2.7", "10.2.2.2"], TRUSTED) == "192.0.2.7"
    assert resolve("127.0.0.1", ["192.0.2.66", "192.0.2.7", "10.2.2.2"], TRUSTED) == "192.0.2.7"
    # all trusted: the leftmost, still an address some trusted proxy vouched for
    assert resolve("127.0.0.1", ["10.1.1.1", "10.2.2.2"], TRUSTED) == "10.1.1.1"
    assert resolve("127.0.0.1", [], TRUSTED) == "127.0.0.1"


def test_it_stops_at_the_proxy_that_wrote_an_entry_that_is_no_address() -> None:
    assert resolve("127.0.0.1", ["192.0.2.7", "unknown"], TRUSTED) == "127.0.0.1"
    assert resolve("127.0.0.1", ["<script>", "10.2.2.2"], TRUSTED) == "10.2.2.2"


def test_it_reads_the_forms_proxies_write() -> None:
    assert str(parse_address("192.0.2.7:5678")) == "192.0.2.7"
    assert str(parse_address("[2001:db8::1]:5678")) == "2001:db8::1"
    assert str(parse_address(" 2001:db8::1 ")) == "2001:db8::1"
    assert str(parse_address("::ffff:10.0.0.1")) == "10.0.0.1"
    assert parse_address("unknown") is None and parse_address("") is None
    assert forwarded_entries(["a, b", " c ,", "d"]) == ["a", "b", "c", "d"]
    assert resolve("::ffff:127.0.0.1", ["fd00::1", "2001:db8::5"], TRUSTED) == "2001:db8::5"


@given(chain=st.lists(anything, max_size=8), client=untrusted_v4, proxies=st.lists(trusted_v4, max_size=4))
def test_whatever_a_client_writes_it_cannot_move_the_answer_past_itself(
    chain: list[str], client: str, proxies: list[str]
) -> None:
    # the client's own claim (chain), then each trusted proxy appends the address it saw
    seen = [*chain, client, *proxies[:-1]] if proxies else [*chain]
    peer = proxies[-1] if proxies else client
    assert resolve(peer, seen, TRUSTED) == client


@given(chain=st.lists(anything, max_size=8), peer=st.one_of(trusted_v4, untrusted_v4))
def test_the_answer_is_the_peer_or_an_entry_and_never_a_trusted_address_unless_all_are(
    chain: list[str], peer: str
) -> None:
    answer = resolve(peer, chain, TRUSTED)
    assert answer == peer or answer in [e.strip() for e in chain]
    if ipaddress.ip_address(peer) not in ipaddress.ip_network("10.0.0.0/8"):
        assert answer == peer


def run(app: ClientAddress, scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    app.app = inner
    asyncio.run(app(scope, None, None))
    return seen


def scope(kind: str, peer: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": kind,
        "client": (peer, 4321),
        "scheme": "http" if kind == "http" else "ws",
        "headers": list(headers),
    }


@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_the_middleware_rewrites_the_client_and_drops_forwarded_headers_from_strangers(kind: str) -> None:
    app = ClientAddress(None, TRUSTED)
    forged = [(b"x-forwarded-for", b"10.0.0.1"), (b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"evil")]
    seen = run(app, scope(kind, "192.0.2.1", *forged, (b"cookie", b"a=b")))
    assert seen["client"] == ("192.0.2.1", 4321) and seen["headers"] == [(b"cookie", b"a=b")]
    assert seen["scheme"] in ("http", "ws")
    seen = run(app, scope(kind, "127.0.0.1", (b"x-forwarded-for", b"192.0.2.9, 10.0.0.1"), forged[1]))
    assert seen["client"] == ("192.0.2.9", 0) and seen["visualizer.peer"] == "127.0.0.1"
    assert seen["scheme"] == ("https" if kind == "http" else "wss")


def test_a_setting_refuses_what_is_no_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TRUSTED_NETS", "10.0.0.5, 10.1.0.0/24,::1")
    assert env_networks("TEST_TRUSTED_NETS") == ["10.0.0.5", "10.1.0.0/24", "::1"]
    monkeypatch.setenv("TEST_TRUSTED_NETS", "10.0.0.5,proxy.example")
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example"):
        env_networks("TEST_TRUSTED_NETS")


def test_an_ipv6_zone_is_not_an_address() -> None:
    assert parse_address("fe80::1%eth0") is None
    assert parse_address("[fe80::1%" + "x" * 200 + "]:80") is None


def test_a_repeated_forwarded_proto_reaches_django_as_the_one_value_the_middleware_used() -> None:
    trusted = parse_networks(["127.0.0.1"])
    scope = {
        "type": "http",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-proto", b"https"), (b"x-forwarded-proto", b"http"), (b"host", b"x")],
    }
    rewritten = ClientAddress(None, trusted).rewrite(scope)
    protos = [v for k, v in rewritten["headers"] if k == b"x-forwarded-proto"]
    assert rewritten["scheme"] == "http" and protos == [b"http"]


def test_no_forwarding_header_of_any_kind_passes_from_an_untrusted_peer() -> None:
    names = (b"forwarded", b"x-real-ip", b"x-forwarded-port", b"x-forwarded-prefix", b"X-Forwarded-For")
    scope = {"type": "http", "client": ("192.0.2.9", 5000), "headers": [(n, b"10.0.0.1") for n in names]}
    assert ClientAddress(None, parse_networks(["127.0.0.1"])).rewrite(scope)["headers"] == []
