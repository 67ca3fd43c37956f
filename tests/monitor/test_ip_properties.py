"""Properties of ``client_ip`` over arbitrary header values: never a crash, never a forged hop."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenveil.monitor import client_ip

TRUSTED = ["10.0.0.0/8"]

untrusted_ips = st.ip_addresses(v=4).filter(lambda ip: ip not in ipaddress.ip_network("10.0.0.0/8"))


@settings(max_examples=80, deadline=None)
@given(header=st.text(max_size=300), peer=st.one_of(st.none(), st.text(max_size=40)))
def test_arbitrary_headers_never_raise(header: str, peer: str | None) -> None:
    """Whatever a client writes, client_ip returns None or a valid address; it never raises."""
    for name in ("x-forwarded-for", "forwarded"):
        got = client_ip({name: header}, peer, TRUSTED, header=name)
        if got is not None:
            ipaddress.ip_address(got)


@settings(max_examples=80, deadline=None)
@given(
    forged=st.lists(untrusted_ips, max_size=5),
    client=untrusted_ips,
    proxies=st.lists(st.ip_addresses(network="10.0.0.0/8"), max_size=4),
)
def test_client_behind_trusted_proxies_is_found_whatever_was_forged_before_it(
    forged: list[ipaddress.IPv4Address],
    client: ipaddress.IPv4Address,
    proxies: list[ipaddress.IPv4Address],
) -> None:
    """Entries the client wrote to the left of its real address never win."""
    chain = ", ".join(str(ip) for ip in [*forged, client, *proxies])
    assert client_ip({"x-forwarded-for": chain}, "10.0.0.1", TRUSTED) == str(client)
