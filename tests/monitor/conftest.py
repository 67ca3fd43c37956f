"""Deterministic geolocation for the monitor specifications."""

from __future__ import annotations

from tokenveil.monitor import GeoInfo, UsageRecord, UsageWindows

T0 = 1_800_000_000.0

#: Documentation addresses (RFC 5737, RFC 3849) placed on a fake map.
PLACES: dict[str, GeoInfo] = {
    "192.0.2.10": GeoInfo("FR", "Orange", 48.9, 2.4),  # Paris
    "192.0.2.11": GeoInfo("FR", "Free", 48.9, 2.3),  # Paris, another operator
    "198.51.100.20": GeoInfo("US", "Comcast", 40.7, -74.0),  # New York
    "203.0.113.30": GeoInfo("JP", "NTT", 35.7, 139.7),  # Tokyo
    "192.0.2.12": GeoInfo("BE", "Proximus", 50.8, 4.4),  # Brussels, 260 km from Paris
}


class FakeGeo:
    """A GeoLookup over :data:`PLACES`; with ``coords=False`` it knows countries only."""

    def __init__(self, *, coords: bool = True) -> None:
        self.coords = coords
        self.calls: list[str] = []

    def lookup(self, ip: str) -> GeoInfo:
        self.calls.append(ip)
        info = PLACES.get(ip, GeoInfo())
        return info if self.coords else GeoInfo(info.country, info.asn)


def rec(
    at: float,
    *,
    jti: str = "j1",
    family: str | None = "f1",
    sub: str = "S",
    ip: str | None = "ip-a",
    country: str | None = "FR",
    asn: str | None = "Orange",
    lat: float | None = None,
    lon: float | None = None,
) -> UsageRecord:
    return UsageRecord(jti, family, sub, ip, country, asn, None, T0 + at, lat, lon)


def windows(*records: UsageRecord, sub_rate: tuple[int, ...] = ()) -> UsageWindows:
    ordered = tuple(sorted(records, key=lambda r: r.at))
    family = tuple(r for r in ordered if r.family_id)
    return UsageWindows(ordered, family, ordered, sub_rate)
