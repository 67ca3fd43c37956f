"""``client_ip``: forwarding headers are believed only as far as our own proxies wrote them."""

from __future__ import annotations

import ipaddress

import pytest

from tokenveil.monitor import client_ip

TRUSTED = ["10.0.0.0/8", "127.0.0.1"]


def test_direct_client_is_its_peer_and_headers_are_ignored() -> None:
    """A peer that is not a trusted proxy is the client, whatever X-Forwarded-For says."""
    headers = {"X-Forwarded-For": "1.1.1.1"}
    assert client_ip(headers, "203.0.113.9", TRUSTED) == "203.0.113.9"


def test_client_behind_one_trusted_proxy() -> None:
    """Behind our proxy, the rightmost untrusted X-Forwarded-For entry is the client."""
    assert client_ip({"x-forwarded-for": "203.0.113.9"}, "10.0.0.2", TRUSTED) == "203.0.113.9"


def test_spoofed_leftmost_entries_are_ignored() -> None:
    """A client-written fake address on the left is never picked (walk from the right)."""
    headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.1.1.1"}
    assert client_ip(headers, "10.0.0.2", TRUSTED) == "203.0.113.9"


def test_asgi_scope_and_several_header_lines_are_read_in_order() -> None:
    """An ASGI scope with repeated headers is one list, left to right (RFC 9110 §5.3)."""
    scope = {
        "type": "http",
        "headers": [
            (b"x-forwarded-for", b"6.6.6.6"),
            (b"x-forwarded-for", b"198.51.100.7, 10.2.2.2"),
        ],
    }
    assert client_ip(scope, "127.0.0.1", TRUSTED) == "198.51.100.7"


def test_forwarded_header_with_quoted_ipv6_and_ports() -> None:
    """RFC 7239 §4 values: quoted, bracketed IPv6 with a port, and IPv4 with a port."""
    headers = [
        (b"forwarded", b'for="198.51.100.17:4711";proto=https, for="[2001:db8:cafe::17]:4711"'),
    ]
    got = client_ip(headers, "10.0.0.1", TRUSTED, header="forwarded")
    assert got == "2001:db8:cafe::17"
    trusted_v6 = [*TRUSTED, "2001:db8:cafe::/48"]
    assert client_ip(headers, "10.0.0.1", trusted_v6, header="forwarded") == "198.51.100.17"


def test_the_header_our_proxy_does_not_write_is_not_read() -> None:
    """With X-Forwarded-For configured, a client-sent Forwarded header changes nothing."""
    headers = {"Forwarded": "for=6.6.6.6", "X-Forwarded-For": "203.0.113.9"}
    assert client_ip(headers, "10.0.0.1", TRUSTED) == "203.0.113.9"


def test_unknown_or_obfuscated_hop_gives_no_client() -> None:
    """RFC 7239 §6.2/§6.3 "unknown" and "_hidden" identifiers make the client unknown."""
    for value in ("for=unknown", "for=_hidden"):
        assert client_ip({"forwarded": value}, "10.0.0.1", TRUSTED, header="forwarded") is None
    assert client_ip({"x-forwarded-for": "garbage"}, "10.0.0.1", TRUSTED) is None


def test_all_trusted_chain_returns_the_leftmost_hop() -> None:
    """When every hop is ours, the request started inside: the leftmost address is returned."""
    assert client_ip({"x-forwarded-for": "10.9.9.9, 10.1.1.1"}, "10.0.0.1", TRUSTED) == "10.9.9.9"
    assert client_ip({}, "10.0.0.1", TRUSTED) == "10.0.0.1"


def test_ipv4_mapped_peer_is_normalized_and_missing_peer_is_unknown() -> None:
    """::ffff:a.b.c.d counts as a.b.c.d (so it matches IPv4 networks); no peer means None."""
    assert client_ip({"x-forwarded-for": "203.0.113.9"}, "::ffff:10.0.0.1", TRUSTED) == (
        "203.0.113.9"
    )
    assert client_ip({}, None, TRUSTED) is None
    assert client_ip({}, "not an ip", TRUSTED) is None


def test_network_objects_are_accepted_as_trusted_proxies() -> None:
    """Trusted proxies may be given as ipaddress networks."""
    nets = [ipaddress.ip_network("192.168.0.0/16")]
    assert client_ip({"x-forwarded-for": "203.0.113.9"}, "192.168.1.1", nets) == "203.0.113.9"


@pytest.mark.parametrize("count", [40, 1000])
def test_very_long_chains_are_cut(count: int) -> None:
    """Only the last 32 hops are read, so a huge header costs bounded work."""
    chain = ", ".join(["10.0.0.9"] * count)
    assert client_ip({"x-forwarded-for": chain}, "10.0.0.1", TRUSTED) == "10.0.0.9"
