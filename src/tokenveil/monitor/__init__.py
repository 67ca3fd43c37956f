"""Token-use monitoring: the signs a stolen token leaves, and what to do about them.

Sans-I/O core with injected clock (``now``), geolocation, storage and actions:

- :func:`client_ip`: the client address behind trusted proxies (X-Forwarded-For, RFC 7239).
- :class:`GeoLookup`: :class:`GeoIP2FastLookup` (offline country + ASN), optional
  :class:`MaxMindCityLookup` (coordinates, so speed).
- :class:`Pseudonymizer`: keyed HMAC pseudonyms for IPs, user agents and subjects.
- :class:`WindowStore`: bounded windows per token, family and subject
  (:class:`InMemoryWindowStore`; ``RedisWindowStore`` in :mod:`tokenveil.store.redis`).
- Detectors: impossible travel, IP spread, bursts, concurrent family use → :class:`Anomaly`.
- :class:`Policy` + :class:`Responder`: record_event, webhook, revoke_token, revoke_family,
  require_reauth.
- :class:`MonitorMetrics`: Prometheus counters on a registry you pass in.
- :class:`TokenMonitor` ties them together: ``await monitor.observe(use, now=now)``.
"""

from tokenveil.monitor._detectors import (
    Anomaly,
    AnomalyKind,
    DetectorConfig,
    Severity,
    detect_anomalies,
    detect_burst,
    detect_concurrent_family_use,
    detect_impossible_travel,
    detect_ip_spread,
)
from tokenveil.monitor._geo import (
    GeoInfo,
    GeoIP2FastLookup,
    GeoLookup,
    MaxMindCityLookup,
    great_circle_km,
)
from tokenveil.monitor._ip import client_ip, parse_networks
from tokenveil.monitor._metrics import MonitorMetrics
from tokenveil.monitor._monitor import Assessment, TokenMonitor
from tokenveil.monitor._policy import ACTIONS, Action, Policy, Responder, TokenUse, WebhookSender
from tokenveil.monitor._pseudonym import Pseudonymizer
from tokenveil.monitor._window import (
    InMemoryWindowStore,
    UsageRecord,
    UsageWindows,
    WindowLimits,
    WindowStore,
)

__all__ = [
    "ACTIONS",
    "Action",
    "Anomaly",
    "AnomalyKind",
    "Assessment",
    "DetectorConfig",
    "GeoIP2FastLookup",
    "GeoInfo",
    "GeoLookup",
    "InMemoryWindowStore",
    "MaxMindCityLookup",
    "MonitorMetrics",
    "Policy",
    "Pseudonymizer",
    "Responder",
    "Severity",
    "TokenMonitor",
    "TokenUse",
    "UsageRecord",
    "UsageWindows",
    "WebhookSender",
    "WindowLimits",
    "WindowStore",
    "client_ip",
    "detect_anomalies",
    "detect_burst",
    "detect_concurrent_family_use",
    "detect_impossible_travel",
    "detect_ip_spread",
    "great_circle_km",
    "parse_networks",
]
