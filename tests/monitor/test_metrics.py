"""Prometheus counters live on the registry passed in, with bounded label values."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry

from tokenveil.monitor import MonitorMetrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_counters_count_on_the_given_registry_only() -> None:
    """Increments show up on the dedicated registry and never on the global one."""
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.verified()
    metrics.verified()
    metrics.rejected("expired")
    metrics.anomaly("burst", "medium")
    metrics.action("revoke_token", "ok")
    assert _value(registry, "tokenveil_verifications_total") == 2
    assert _value(registry, "tokenveil_rejections_total", reason="expired") == 1
    assert _value(registry, "tokenveil_anomalies_total", kind="burst", severity="medium") == 1
    assert (
        _value(registry, "tokenveil_monitor_actions_total", action="revoke_token", outcome="ok")
        == 1
    )
    assert REGISTRY.get_sample_value("tokenveil_verifications_total") is None


def test_two_registries_do_not_collide() -> None:
    """Two apps in one process each get their own counters (no duplicate-series error)."""
    a, b = CollectorRegistry(), CollectorRegistry()
    MonitorMetrics(a).verified()
    MonitorMetrics(b)
    assert _value(a, "tokenveil_verifications_total") == 1
    assert _value(b, "tokenveil_verifications_total") == 0


def test_free_text_label_values_collapse_to_other() -> None:
    """A label value that is not a short fixed word (an email, a token) becomes "other"."""
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.rejected("alice@example.com")
    metrics.rejected("eyJhbGciOiJFUzI1NiJ9.e30.sig")
    assert _value(registry, "tokenveil_rejections_total", reason="other") == 2
    assert _value(registry, "tokenveil_rejections_total", reason="alice@example.com") is None
