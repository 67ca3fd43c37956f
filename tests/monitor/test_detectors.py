"""Detectors: pure rules over windows. Each one fires on the theft pattern and not on normal use."""

from __future__ import annotations

from tokenveil.monitor import (
    DetectorConfig,
    detect_anomalies,
    detect_burst,
    detect_concurrent_family_use,
    detect_impossible_travel,
    detect_ip_spread,
)

from .conftest import rec, windows

CFG = DetectorConfig()


class TestImpossibleTravel:
    def test_two_countries_minutes_apart_is_impossible_travel(self) -> None:
        """FR then US ten minutes later, without coordinates, fires with both countries."""
        found = detect_impossible_travel(
            windows(rec(0), rec(600, ip="ip-b", country="US", asn="Comcast")), CFG
        )
        assert found is not None
        assert found.kind == "impossible_travel"
        assert found.severity == "high"
        assert found.details == {"countries": "FR,US", "elapsed_s": 600}

    def test_country_change_after_the_window_is_a_trip(self) -> None:
        """FR then US two hours later (country_switch_seconds=3600) is allowed."""
        ws = windows(rec(0), rec(7200, ip="ip-b", country="US", asn="Comcast"))
        assert detect_impossible_travel(ws, CFG) is None

    def test_speed_over_1000_kmh_fires_with_city_coordinates(self) -> None:
        """Paris to New York (5,800 km) in two hours is ~2,900 km/h: impossible."""
        ws = windows(
            rec(0, lat=48.9, lon=2.4),
            rec(7200, ip="b", country="US", asn="Comcast", lat=40.7, lon=-74.0),
        )
        found = detect_impossible_travel(ws, CFG)
        assert found is not None
        assert found.details["speed_kmh"] == 2920
        assert found.details["distance_km"] == 5839

    def test_speed_of_an_airliner_is_possible(self) -> None:
        """Paris to New York in eight hours (~730 km/h) does not fire."""
        ws = windows(
            rec(0, lat=48.9, lon=2.4),
            rec(8 * 3600, ip="b", country="US", asn="Comcast", lat=40.7, lon=-74.0),
        )
        assert detect_impossible_travel(ws, CFG) is None

    def test_short_cross_border_hop_is_not_judged_on_speed(self) -> None:
        """Paris to Brussels (260 km) in 10 minutes is fast but near: min_distance_km rules."""
        ws = windows(
            rec(0, lat=48.9, lon=2.4),
            rec(600, ip="b", country="BE", asn="Proximus", lat=50.8, lon=4.4),
        )
        cfg = DetectorConfig(min_distance_km=300)
        assert detect_impossible_travel(ws, cfg) is None
        assert detect_impossible_travel(ws, CFG) is not None

    def test_asn_switch_rule_is_off_by_default_and_fires_when_set(self) -> None:
        """Same country, two operators 5 s apart: ignored by default, medium when enabled."""
        ws = windows(rec(0), rec(5, ip="b", asn="Free"))
        assert detect_impossible_travel(ws, CFG) is None
        found = detect_impossible_travel(ws, DetectorConfig(asn_switch_seconds=30))
        assert found is not None
        assert found.severity == "medium"
        assert found.details["asn_changed"] is True

    def test_unknown_locations_never_fire(self) -> None:
        """Uses from private addresses (no country) cannot prove travel."""
        ws = windows(rec(0, country=None, asn=None), rec(1, ip="b", country="US", asn=None))
        assert detect_impossible_travel(ws, CFG) is None


class TestIpSpread:
    def test_more_distinct_ips_than_allowed_fires(self) -> None:
        """Six IPs on one token within ten minutes (max 5) is ip_spread."""
        ws = windows(*(rec(i * 10, ip=f"ip-{i}") for i in range(6)))
        found = detect_ip_spread(ws, CFG)
        assert found is not None
        assert found.details["distinct_ips"] == 6
        assert found.severity == "medium"

    def test_same_ip_many_times_does_not_fire(self) -> None:
        """Fifty uses from one IP is one client."""
        assert detect_ip_spread(windows(*(rec(i) for i in range(50))), CFG) is None

    def test_ips_older_than_the_window_do_not_count(self) -> None:
        """IPs seen more than ip_window_seconds ago are not counted."""
        old = [rec(i, ip=f"old-{i}") for i in range(5)]
        ws = windows(*old, rec(3600, ip="new"))
        assert detect_ip_spread(ws, CFG) is None


class TestBurst:
    def test_rate_ten_times_the_trailing_mean_fires(self) -> None:
        """200 requests this minute after a steady 10 per minute is a burst."""
        ws = windows(rec(0), sub_rate=(10,) * 30 + (200,))
        found = detect_burst(ws, CFG)
        assert found is not None
        assert found.details == {"requests": 200, "trailing_mean": 10.0, "buckets": 30}

    def test_heavy_but_steady_subject_does_not_fire(self) -> None:
        """A service doing 500 per minute all along is not bursting."""
        assert detect_burst(windows(rec(0), sub_rate=(500,) * 31), CFG) is None

    def test_below_the_floor_never_fires(self) -> None:
        """50 requests after 1 per minute is 50x, but under burst_floor (120)."""
        assert detect_burst(windows(rec(0), sub_rate=(1,) * 30 + (50,)), CFG) is None

    def test_new_subject_past_the_floor_fires(self) -> None:
        """A subject with no history doing 300 in its first minute fires."""
        found = detect_burst(windows(rec(0), sub_rate=(0,) * 59 + (300,)), CFG)
        assert found is not None
        assert found.details["buckets"] == 0


class TestConcurrentFamilyUse:
    def test_family_alternating_between_two_places_fires(self) -> None:
        """FR, US, FR within five minutes: two holders of one family."""
        ws = windows(
            rec(0),
            rec(30, ip="b", country="US", asn="Comcast"),
            rec(60, ip="a"),
        )
        found = detect_concurrent_family_use(ws, CFG)
        assert found is not None
        assert found.details["places"] == 2
        assert found.details["switches"] == 2

    def test_single_move_is_not_concurrent_use(self) -> None:
        """FR, FR, US: one change of network, not two holders."""
        ws = windows(rec(0), rec(30), rec(60, ip="b", country="US", asn="Comcast"))
        assert detect_concurrent_family_use(ws, CFG) is None

    def test_private_addresses_are_told_apart_by_pseudonymous_ip(self) -> None:
        """Without geo data, places are the IP pseudonyms."""
        ws = windows(
            rec(0, ip="p1", country=None, asn=None),
            rec(1, ip="p2", country=None, asn=None),
            rec(2, ip="p1", country=None, asn=None),
        )
        assert detect_concurrent_family_use(ws, CFG) is not None


def test_quiet_use_raises_nothing() -> None:
    """Ordinary use from one place at a modest rate raises no anomaly at all."""
    ws = windows(*(rec(i * 30) for i in range(20)), sub_rate=(2,) * 60)
    assert detect_anomalies(ws, CFG) == []


def test_details_never_carry_an_ip_pseudonym_or_subject() -> None:
    """Anomaly details hold counts and countries; the IP values never appear in them."""
    ws = windows(
        *(rec(i, ip=f"secret-ip-{i}", country="US" if i % 2 else "FR") for i in range(12)),
        sub_rate=(0,) * 59 + (500,),
    )
    found = detect_anomalies(ws, CFG)
    assert {a.kind for a in found} == {
        "impossible_travel",
        "ip_spread",
        "burst",
        "concurrent_family_use",
    }
    for anomaly in found:
        assert anomaly.subject_pseudonym == "S"
        assert not any("secret" in str(v) for v in anomaly.details.values())


def test_same_country_and_operator_far_apart_is_judged_on_speed() -> None:
    """New York then Los Angeles on one operator ten minutes apart is still impossible."""
    ws = windows(
        rec(0, country="US", asn="Comcast", lat=40.7, lon=-74.0),
        rec(600, ip="b", country="US", asn="Comcast", lat=34.1, lon=-118.2),
    )
    found = detect_impossible_travel(ws, CFG)
    assert found is not None
    assert found.details["countries"] == "US"
