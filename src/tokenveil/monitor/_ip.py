"""The client's IP address behind reverse proxies, without trusting what the client wrote.

``X-Forwarded-For`` and ``Forwarded`` (RFC 7239) are lists that every proxy appends to. Only the
entries appended by proxies we operate can be believed, so the list is walked from the right,
skipping the configured trusted proxy networks; the first address that is not one of them is the
client. Anything further left was written by the client and may be forged (RFC 7239 §8.1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Literal

__all__ = ["IPNetwork", "client_ip", "parse_networks"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HeaderSource = Mapping[str, object] | Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]

#: A forwarding list longer than this is not from a real proxy chain; stop reading it.
_MAX_HOPS = 32


def parse_networks(networks: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """Trusted proxies as networks: ``"10.0.0.0/8"``, ``"127.0.0.1"`` (a /32) or network objects."""
    out: list[IPNetwork] = []
    for net in networks:
        out.append(net if not isinstance(net, str) else ipaddress.ip_network(net, strict=False))
    return tuple(out)


def client_ip(
    scope_or_headers: HeaderSource,
    peer: str | None,
    trusted_proxies: Sequence[str | IPNetwork],
    *,
    header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for",
) -> str | None:
    """The client address for a request, or None when it cannot be known.

    ``scope_or_headers`` is an ASGI scope, an ASGI header list, or a ``{name: value}`` mapping.
    ``peer`` is the socket peer (``scope["client"][0]``). ``header`` names the one forwarding
    header the deployment's proxies write: reading the other would let a client forge it,
    because our proxy only appends to the one it knows.
    """
    networks = _networks(tuple(trusted_proxies))
    peer_ip = _parse(peer) if peer is not None else None
    if peer_ip is None or not _trusted(peer_ip, networks):
        return str(peer_ip) if peer_ip is not None else None
    hops = _forwarded_for(_header_values(scope_or_headers, header), header)
    current: IPAddress = peer_ip
    for raw in reversed(hops[-_MAX_HOPS:]):
        ip = _parse(raw)
        if ip is None:
            # RFC 7239 §6.2/6.3: "unknown" or an obfuscated name; the hop before it is the last
            # one we can vouch for, and it is one of our proxies, so the client is unknown.
            return None
        current = ip
        if not _trusted(ip, networks):
            return str(ip)
    # Every hop is one of ours: the request started inside the trusted network.
    return str(current)


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str | IPNetwork, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(trusted)


def _trusted(ip: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


# Proxies and clients repeat: parsing an address is the costly step, so remember recent ones.
@lru_cache(maxsize=4096)
def _parse(value: str) -> IPAddress | None:
    text = value.strip().strip('"')
    if text.startswith("["):  # RFC 7239 §6: "[2001:db8::1]:4711"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.43:47011"
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _header_values(source: HeaderSource, name: str) -> list[str]:
    if isinstance(source, Mapping):
        if "headers" in source and "type" in source:  # an ASGI scope
            return _header_values(source["headers"], name)  # type: ignore[arg-type]
        return [str(v) for k, v in source.items() if k.lower() == name]
    values: list[str] = []
    for key, value in source:
        k = key.decode("latin-1") if isinstance(key, bytes) else key
        if k.lower() == name:
            values.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    return values


def _forwarded_for(values: list[str], header: str) -> list[str]:
    # Several header lines form one list, in order (RFC 9110 §5.3).
    if header == "x-forwarded-for":
        return [part.strip() for value in values for part in value.split(",") if part.strip()]
    hops: list[str] = []
    for value in values:
        for element in _split_quoted(value, ","):
            found = "unknown"
            for pair in _split_quoted(element, ";"):
                key, _, val = pair.partition("=")
                if key.strip().lower() == "for":
                    found = val.strip()
            hops.append(found)
    return hops


def _split_quoted(text: str, sep: str) -> list[str]:
    # RFC 7239 §4: values may be quoted-strings holding the separators.
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (s.strip() for s in parts) if p]
