"""Prometheus metrics for verification and monitoring, on a registry the caller owns.

A dedicated ``CollectorRegistry`` (never the global one) keeps two apps or two tests in one
process from colliding, and lets the server expose exactly these series. Label values are short
fixed words (reasons, kinds, actions): never a subject, token id or address, which would be
personal data and unbounded cardinality.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter

__all__ = ["MonitorMetrics"]

_LABEL = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _label(value: str) -> str:
    # Reasons come from code, but a bug must not turn a label into free text.
    return value if _LABEL.fullmatch(value) else "other"


class MonitorMetrics:
    """The counters, named for ``namespace="tokenveil"``.

    ``tokenveil_verifications_total``, ``tokenveil_rejections_total{reason}``,
    ``tokenveil_anomalies_total{kind,severity}`` and
    ``tokenveil_monitor_actions_total{action,outcome}``.
    """

    def __init__(self, registry: CollectorRegistry, *, namespace: str = "tokenveil") -> None:
        self.registry = registry
        self.verifications = Counter(
            "verifications", "Access tokens verified.", namespace=namespace, registry=registry
        )
        self.rejections = Counter(
            "rejections",
            "Access tokens or proofs rejected, by reason.",
            ["reason"],
            namespace=namespace,
            registry=registry,
        )
        self.anomalies = Counter(
            "anomalies",
            "Token-use anomalies detected, by kind and severity.",
            ["kind", "severity"],
            namespace=namespace,
            registry=registry,
        )
        self.actions = Counter(
            "monitor_actions",
            "Monitor responses run, by action and outcome.",
            ["action", "outcome"],
            namespace=namespace,
            registry=registry,
        )

    def verified(self) -> None:
        self.verifications.inc()

    def rejected(self, reason: str) -> None:
        self.rejections.labels(reason=_label(reason)).inc()

    def anomaly(self, kind: str, severity: str) -> None:
        self.anomalies.labels(kind=_label(kind), severity=_label(severity)).inc()

    def action(self, action: str, outcome: str) -> None:
        self.actions.labels(action=_label(action), outcome=_label(outcome)).inc()
