"""Anomaly detectors: pure functions over the usage windows of one new token use.

Each detector looks at the newest record against its history and returns an :class:`Anomaly` or
None. Anomalies hold kinds, countries, counts and the subject's pseudonym: never an IP address,
a user agent or a subject identifier in clear, because they end up in the audit trail, in
metrics and in webhooks sent to other systems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from tokenveil.monitor._geo import great_circle_km
from tokenveil.monitor._window import UsageRecord, UsageWindows
from tokenveil.store._protocols import EventValue

__all__ = [
    "Anomaly",
    "AnomalyKind",
    "DetectorConfig",
    "Severity",
    "detect_anomalies",
    "detect_burst",
    "detect_concurrent_family_use",
    "detect_impossible_travel",
    "detect_ip_spread",
]

AnomalyKind = Literal["impossible_travel", "ip_spread", "burst", "concurrent_family_use"]
Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something a stolen token would cause. ``details`` are safe to log and to send out."""

    kind: AnomalyKind
    severity: Severity
    subject_pseudonym: str
    details: Mapping[str, EventValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Thresholds. Times in seconds; set a threshold to 0 to switch its rule off."""

    #: Without coordinates: one token in two countries less than this apart.
    country_switch_seconds: float = 3600.0
    #: One token on two network operators (ASNs) less than this apart; off by default because
    #: phones move between Wi-Fi and mobile networks within seconds.
    asn_switch_seconds: float = 0.0
    #: With City coordinates: faster than this between two uses is impossible (airliners cruise
    #: at ~900 km/h).
    max_speed_kmh: float = 1000.0
    #: City-level positions are tens of km off; below this distance speed is not judged.
    min_distance_km: float = 200.0
    max_ips_per_token: int = 5
    ip_window_seconds: float = 600.0
    #: A burst: the current rate bucket holds more than ``burst_factor`` times the subject's
    #: trailing mean per bucket, and more than ``burst_floor`` requests.
    burst_factor: float = 10.0
    burst_floor: int = 120
    #: A family used from two places at once: the place changes back and forth within this.
    concurrent_seconds: float = 300.0


def detect_impossible_travel(windows: UsageWindows, config: DetectorConfig) -> Anomaly | None:
    """The same token or family seen in two places no traveller could cover in between."""
    history = windows.by_family or windows.by_jti
    if len(history) < 2:
        return None
    new = history[-1]
    worst: Anomaly | None = None
    for old in reversed(history[:-1]):
        found = _travel(old, new, config)
        if found is not None and (worst is None or _rank(found) > _rank(worst)):
            worst = found
    return worst


def _travel(old: UsageRecord, new: UsageRecord, config: DetectorConfig) -> Anomaly | None:
    # Hot path: most uses come from where the previous one did.
    same_spot = old.lat == new.lat and old.lon == new.lon
    if same_spot and old.country == new.country and old.asn == new.asn:
        return None
    elapsed = max(new.at - old.at, 0.0)
    countries = _joined(old.country, new.country)
    if None not in (old.lat, old.lon, new.lat, new.lon) and config.max_speed_kmh > 0:
        distance = great_circle_km(old.lat, old.lon, new.lat, new.lon)  # type: ignore[arg-type]
        if distance < config.min_distance_km:
            return None
        # One second at least: two uses in the same instant are "infinitely fast".
        speed = distance / (max(elapsed, 1.0) / 3600.0)
        if speed <= config.max_speed_kmh:
            return None
        return Anomaly(
            "impossible_travel",
            "high",
            new.sub,
            {
                "countries": countries,
                "distance_km": round(distance),
                "speed_kmh": round(speed),
                "elapsed_s": round(elapsed),
            },
        )
    if old.country and new.country and old.country != new.country:
        if elapsed < config.country_switch_seconds:
            return Anomaly(
                "impossible_travel",
                "high",
                new.sub,
                {"countries": countries, "elapsed_s": round(elapsed)},
            )
        return None
    if old.asn and new.asn and old.asn != new.asn and elapsed < config.asn_switch_seconds:
        return Anomaly(
            "impossible_travel",
            "medium",
            new.sub,
            {"countries": countries, "asn_changed": True, "elapsed_s": round(elapsed)},
        )
    return None


def detect_ip_spread(windows: UsageWindows, config: DetectorConfig) -> Anomaly | None:
    """One access token used from more distinct IP addresses than any one client would."""
    if config.max_ips_per_token <= 0 or not windows.by_jti:
        return None
    new = windows.by_jti[-1]
    recent = [r for r in windows.by_jti if r.at >= new.at - config.ip_window_seconds]
    ips = {r.ip for r in recent if r.ip}
    if len(ips) <= config.max_ips_per_token:
        return None
    return Anomaly(
        "ip_spread",
        "high" if len(ips) > 2 * config.max_ips_per_token else "medium",
        new.sub,
        {
            "distinct_ips": len(ips),
            "window_s": round(config.ip_window_seconds),
            "countries": _joined(*(r.country for r in recent)),
        },
    )


def detect_burst(windows: UsageWindows, config: DetectorConfig) -> Anomaly | None:
    """The subject's request rate jumped far above its own trailing mean."""
    rate = windows.sub_rate
    if not rate or not windows.by_sub or config.burst_factor <= 0:
        return None
    current, history = rate[-1], rate[:-1]
    if current <= config.burst_floor:
        return None
    # The mean runs from the subject's first bucket in view: a new subject's empty past is not
    # counted as hours of silence.
    first = next((i for i, count in enumerate(history) if count), len(history))
    trailing = history[first:]
    mean = sum(trailing) / len(trailing) if trailing else 0.0
    if current <= config.burst_factor * mean:
        return None
    return Anomaly(
        "burst",
        "medium",
        windows.by_sub[-1].sub,
        {"requests": current, "trailing_mean": round(mean, 1), "buckets": len(trailing)},
    )


def detect_concurrent_family_use(windows: UsageWindows, config: DetectorConfig) -> Anomaly | None:
    """A refresh family used from two places at once: its place flips back and forth."""
    if not windows.by_family or config.concurrent_seconds <= 0:
        return None
    new = windows.by_family[-1]
    recent = [r for r in windows.by_family if r.at >= new.at - config.concurrent_seconds]
    places = [_place(r) for r in recent]
    switches = sum(1 for a, b in pairwise(places) if a != b)
    distinct = len(set(places))
    # One move (A→B) is a traveller or a network change; A→B→A means two holders.
    if distinct < 2 or switches < 2:
        return None
    return Anomaly(
        "concurrent_family_use",
        "high",
        new.sub,
        {
            "places": distinct,
            "switches": switches,
            "window_s": round(config.concurrent_seconds),
            "countries": _joined(*(r.country for r in recent)),
        },
    )


def detect_anomalies(windows: UsageWindows, config: DetectorConfig) -> list[Anomaly]:
    """Every detector over one new use, in a fixed order."""
    found = (
        detect_impossible_travel(windows, config),
        detect_ip_spread(windows, config),
        detect_burst(windows, config),
        detect_concurrent_family_use(windows, config),
    )
    return [a for a in found if a is not None]


def _place(record: UsageRecord) -> str:
    # A network location: country and operator when known; behind private addresses, the
    # pseudonymous IP is all there is.
    if record.country or record.asn:
        return f"{record.country}|{record.asn}"
    return f"ip|{record.ip}"


def _joined(*countries: str | None) -> str:
    return ",".join(sorted({c for c in countries if c}))


_RANKS = {"low": 0, "medium": 1, "high": 2}


def _rank(anomaly: Anomaly) -> tuple[int, float]:
    speed = anomaly.details.get("speed_kmh", 0)
    return _RANKS[anomaly.severity], float(speed) if isinstance(speed, int | float) else 0.0
