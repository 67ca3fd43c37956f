"""Geolocation: the offline geoip2fast tables, optional MaxMind City data, distances."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from tokenveil.errors import ConfigurationError
from tokenveil.monitor import GeoInfo, GeoIP2FastLookup, MaxMindCityLookup, great_circle_km


@pytest.fixture(scope="module")
def geoip2fast() -> GeoIP2FastLookup:
    return GeoIP2FastLookup()


def test_real_table_locates_a_well_known_public_address(geoip2fast: GeoIP2FastLookup) -> None:
    """8.8.8.8 (Google DNS) is in the US on Google's network, from the bundled table."""
    info = geoip2fast.lookup("8.8.8.8")
    assert info.country == "US"
    assert info.asn is not None
    assert "GOOGLE" in info.asn.upper()


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "nonsense", ""])
def test_private_loopback_and_invalid_addresses_have_no_country(
    geoip2fast: GeoIP2FastLookup, ip: str
) -> None:
    """Non-public or malformed addresses give an empty GeoInfo, never an error."""
    assert geoip2fast.lookup(ip) == GeoInfo()


def test_great_circle_distance_paris_new_york() -> None:
    """Haversine Paris (48.86, 2.35) to New York (40.71, -74.01) is about 5,837 km."""
    assert great_circle_km(48.8566, 2.3522, 40.7128, -74.0060) == pytest.approx(5837, abs=10)
    assert great_circle_km(1.0, 1.0, 1.0, 1.0) == 0.0


def test_maxmind_without_geoip2_package_gives_a_friendly_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the optional geoip2 package the error says what to install."""
    monkeypatch.setitem(sys.modules, "geoip2", None)
    monkeypatch.setitem(sys.modules, "geoip2.database", None)
    with pytest.raises(ConfigurationError, match="pip install geoip2"):
        MaxMindCityLookup("/nonexistent/GeoLite2-City.mmdb")


class _Missing(Exception):
    pass


class FakeCityReader:
    def city(self, ip: str) -> SimpleNamespace:
        if ip != "81.2.69.142":
            raise _Missing(ip)
        return SimpleNamespace(
            country=SimpleNamespace(iso_code="GB"),
            location=SimpleNamespace(latitude=51.5142, longitude=-0.0931),
        )

    def asn(self, ip: str) -> SimpleNamespace:
        return SimpleNamespace(autonomous_system_organization="Andrews & Arnold Ltd")


def test_maxmind_reader_gives_coarse_coordinates() -> None:
    """City answers are rounded to 0.1 degree, with the ASN reader's operator name."""
    geo = MaxMindCityLookup.from_readers(FakeCityReader(), FakeCityReader())
    assert geo.lookup("81.2.69.142") == GeoInfo("GB", "Andrews & Arnold Ltd", 51.5, -0.1)


def test_maxmind_unknown_or_private_address_is_empty() -> None:
    """An address missing from the database, or a private one, gives GeoInfo()."""
    geo = MaxMindCityLookup.from_readers(FakeCityReader())
    assert geo.lookup("8.8.4.4") == GeoInfo()
    assert geo.lookup("10.0.0.1") == GeoInfo()
