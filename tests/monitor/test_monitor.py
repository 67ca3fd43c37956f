"""``TokenMonitor`` end to end: a stolen token used from elsewhere is caught and answered."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tokenveil.monitor import (
    InMemoryWindowStore,
    MonitorMetrics,
    Policy,
    Pseudonymizer,
    Responder,
    TokenMonitor,
    TokenUse,
)
from tokenveil.store import SecurityEvent

from .conftest import T0, FakeGeo

KEY = b"p" * 32


def use(ip: str, *, jti: str = "jti-1", family: str | None = "fam-1") -> TokenUse:
    return TokenUse(
        jti=jti,
        sub="user-42",
        expires_at=T0 + 600,
        family_id=family,
        ip=ip,
        user_agent="Mozilla/5.0 (Alice)",
    )


class Wiring:
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []
        self.families: list[str] = []
        self.registry = CollectorRegistry()
        self.store = InMemoryWindowStore()
        self.monitor = TokenMonitor(
            windows=self.store,
            geo=FakeGeo(coords=False),
            pseudonymizer=Pseudonymizer(KEY),
            policy=Policy(),
            responder=Responder(record_event=self.record, revoke_family=self.revoke_family),
            metrics=MonitorMetrics(self.registry),
            cooldown=300,
        )

    async def record(self, event: SecurityEvent) -> None:
        self.events.append(event)

    async def revoke_family(self, family_id: str, reason: str) -> None:
        self.families.append(family_id)


async def test_token_replayed_from_another_continent_revokes_its_family() -> None:
    """Paris then New York a minute later: impossible travel, event recorded, family revoked."""
    w = Wiring()
    first = await w.monitor.observe(use("192.0.2.10"), now=T0)
    assert first.anomalies == ()
    second = await w.monitor.observe(use("198.51.100.20"), now=T0 + 60)
    assert [a.kind for a in second.anomalies] == ["impossible_travel"]
    assert second.actions == ("record_event", "revoke_family")
    assert second.deny is True
    assert w.families == ["fam-1"]
    assert w.events[0].kind == "anomaly.impossible_travel"
    count = w.registry.get_sample_value(
        "tokenveil_anomalies_total", {"kind": "impossible_travel", "severity": "high"}
    )
    assert count == 1


async def test_same_anomaly_fires_once_per_cooldown() -> None:
    """Further uses from the far place within the cooldown do not fire again; later they do."""
    w = Wiring()
    await w.monitor.observe(use("192.0.2.10"), now=T0)
    await w.monitor.observe(use("198.51.100.20"), now=T0 + 60)
    again = await w.monitor.observe(use("192.0.2.10"), now=T0 + 120)
    assert "impossible_travel" not in [a.kind for a in again.anomalies]
    later = await w.monitor.observe(use("198.51.100.20"), now=T0 + 500)
    assert "impossible_travel" in [a.kind for a in later.anomalies]


async def test_stored_records_and_events_hold_pseudonyms_only() -> None:
    """Neither the window nor the audit event keeps the IP, user agent or subject in clear."""
    w = Wiring()
    await w.monitor.observe(use("192.0.2.10"), now=T0)
    await w.monitor.observe(use("198.51.100.20"), now=T0 + 60)
    record = w.monitor.record(use("192.0.2.10"), now=T0)
    stored = record.dumps() + repr(w.events)
    for personal in ("user-42", "192.0.2.10", "198.51.100.20", "Alice"):
        assert personal not in stored
    assert record.sub == Pseudonymizer(KEY).subject("user-42")
    assert record.country == "FR"


async def test_pseudonyms_depend_on_the_key() -> None:
    """Another key gives other pseudonyms: without the key they link to nothing."""
    a, b = Pseudonymizer(b"a" * 32), Pseudonymizer(b"b" * 32)
    assert a.ip("192.0.2.10") == a.ip("192.0.2.10")
    assert a.ip("192.0.2.10") != b.ip("192.0.2.10")
    assert a.ip("x") != a.subject("x")
    assert "aaaa" not in repr(a)


async def test_use_without_ip_is_recorded_without_location() -> None:
    """A request whose client address is unknown is still counted, with no place."""
    w = Wiring()
    result = await w.monitor.observe(
        TokenUse(jti="j", sub="s", expires_at=T0 + 60, ip=None), now=T0
    )
    assert result.anomalies == ()
    assert len(w.store) == 2  # the token's and the subject's windows; no family


async def test_token_shared_across_many_networks_is_revoked() -> None:
    """One token from six addresses within minutes: ip_spread revokes that token."""
    revoked: list[str] = []

    async def revoke_token(jti: str, expires_at: float) -> None:
        revoked.append(jti)

    monitor = TokenMonitor(
        windows=InMemoryWindowStore(),
        geo=FakeGeo(),
        pseudonymizer=Pseudonymizer(KEY),
        responder=Responder(revoke_token=revoke_token),
    )
    results = [await monitor.observe(use(f"10.0.0.{i}", family=None), now=T0 + i) for i in range(6)]
    assert [a.kind for a in results[-1].anomalies] == ["ip_spread"]
    assert revoked == ["jti-1"]
    assert results[-1].deny
