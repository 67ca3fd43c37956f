"""Where an IP address is: country and network operator (ASN), and, with City data, coordinates.

:class:`GeoLookup` is the seam. :class:`GeoIP2FastLookup` answers offline from the country and
ASN tables that ship inside the ``geoip2fast`` package (no download, no network).
:class:`MaxMindCityLookup` reads a MaxMind GeoIP2/GeoLite2 City ``.mmdb`` through the optional
``geoip2`` package when a deployment has one, and adds latitude and longitude, which turns a
country change into a speed (:func:`great_circle_km`).

Private, loopback and unknown addresses have no country: ``GeoInfo()`` with every field None.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tokenveil.errors import ConfigurationError

__all__ = ["GeoIP2FastLookup", "GeoInfo", "GeoLookup", "MaxMindCityLookup", "great_circle_km"]

_EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """What is known of an address. ``asn`` is the operator's name (geoip2fast has no numbers)."""

    country: str | None = None
    asn: str | None = None
    lat: float | None = None
    lon: float | None = None


UNKNOWN = GeoInfo()


class GeoLookup(Protocol):
    def lookup(self, ip: str) -> GeoInfo:
        """Never raises for a bad or private address: it returns ``GeoInfo()``."""
        ...


def _is_public(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


class GeoIP2FastLookup:
    """Country and ASN from the tables bundled with ``geoip2fast``; loads in well under a second.

    ``ipv6=True`` loads the larger IPv4+IPv6 table (about 0.7 s, more memory).
    """

    def __init__(self, *, ipv6: bool = False, cache_size: int = 4096) -> None:
        try:
            from geoip2fast import GeoIP2Fast
        except ImportError as exc:
            raise ConfigurationError(
                "geolocation needs geoip2fast: pip install 'tokenveil[server]'"
            ) from exc
        data = "geoip2fast-asn-ipv6.dat.gz" if ipv6 else "geoip2fast-asn.dat.gz"
        self._db: Any = GeoIP2Fast(geoip2fast_data_file=data)
        # Clients come back from the same address; a bounded cache halves the per-request cost.
        self.lookup = functools.lru_cache(maxsize=cache_size)(self._lookup)  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return "GeoIP2FastLookup()"

    def lookup(self, ip: str) -> GeoInfo:
        return self._lookup(ip)

    def _lookup(self, ip: str) -> GeoInfo:
        if not _is_public(ip):
            return UNKNOWN
        result = self._db.lookup(ip)
        code = getattr(result, "country_code", "") or ""
        # geoip2fast answers "--" for private or unknown networks.
        country = code if len(code) == 2 and code.isalpha() else None
        asn = getattr(result, "asn_name", "") or None
        return GeoInfo(country=country, asn=asn)


class MaxMindCityLookup:
    """Country, coordinates and (with an ASN database) operator from MaxMind ``.mmdb`` files.

    Needs the optional ``geoip2`` package. Coordinates are rounded to 0.1° (about 11 km): enough
    for a speed check, too coarse to locate a person.
    """

    def __init__(self, city_mmdb: str | Path, asn_mmdb: str | Path | None = None) -> None:
        try:
            import geoip2.database  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise ConfigurationError(
                "a MaxMind City database needs the geoip2 package: pip install geoip2"
            ) from exc
        self._city: Any = geoip2.database.Reader(str(city_mmdb))
        self._asn: Any = geoip2.database.Reader(str(asn_mmdb)) if asn_mmdb else None

    @classmethod
    def from_readers(cls, city: Any, asn: Any = None) -> MaxMindCityLookup:
        """Wrap already opened readers (any object with ``city(ip)`` / ``asn(ip)``)."""
        self = cls.__new__(cls)
        self._city, self._asn = city, asn
        return self

    def __repr__(self) -> str:
        return "MaxMindCityLookup()"

    def lookup(self, ip: str) -> GeoInfo:
        if not _is_public(ip):
            return UNKNOWN
        try:
            city = self._city.city(ip)
        # geoip2's AddressNotFoundError and ValueError alike: an unknown place, not a failure.
        except Exception:
            return UNKNOWN
        lat = city.location.latitude
        lon = city.location.longitude
        asn: str | None = None
        if self._asn is not None:
            try:
                asn = self._asn.asn(ip).autonomous_system_organization
            except Exception:  # an address missing from the ASN table
                asn = None
        return GeoInfo(
            country=city.country.iso_code,
            asn=asn,
            lat=round(lat, 1) if lat is not None else None,
            lon=round(lon, 1) if lon is not None else None,
        )


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres on a spherical Earth (mean radius, IUGG)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
