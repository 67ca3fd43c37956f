"""The public surface of ``tokenveil.monitor`` is pinned."""

from __future__ import annotations

import tokenveil.monitor


def test_exported_names_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change that edits this list."""
    assert sorted(tokenveil.monitor.__all__) == sorted(
        [
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
    )
    for name in tokenveil.monitor.__all__:
        assert hasattr(tokenveil.monitor, name)
