"""Token-use monitoring wired into the server: anomalies answered, metrics without PII."""

from __future__ import annotations

from pathlib import Path

from tests.server._app import PASSWORD, login, make_settings, refresh, running

# Documentation-free public addresses in two countries (geoip2fast's bundled table).
FIRST_IP, SECOND_IP = "8.8.8.8", "1.1.1.1"


def _from(ip: str, token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Forwarded-For": ip,
        "X-Forwarded-Proto": "https",
        "User-Agent": "tokenveil-test/1.0",
    }


async def test_impossible_travel_revokes_the_family_and_refuses_the_request(
    tmp_path: Path,
) -> None:
    """One token used from two countries at once: 401, family revoked, event, metric."""
    settings = make_settings(tmp_path, monitoring=True, trusted_proxies=("127.0.0.1/32",))
    async with running(settings) as (client, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        tokens = (await login(client)).json()
        access = tokens["access_token"]

        first = await client.get("/api/me", headers=_from(FIRST_IP, access))
        assert first.status_code == 200, first.text
        second = await client.get("/api/me", headers=_from(SECOND_IP, access))
        assert second.status_code == 401
        assert (await client.get("/api/me", headers=_from(FIRST_IP, access))).status_code == 401

        families = await service.store.list_families()
        assert [(f.suspect, f.revoke_reason) for f in families] == [
            (True, "monitor:impossible_travel")
        ]
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400
        events = await service.store.list_events("anomaly.impossible_travel")
        assert len(events) == 1
        assert FIRST_IP not in str(dict(events[0].details))

        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        text = metrics.text
        assert 'tokenveil_anomalies_total{kind="impossible_travel",severity="high"} 1.0' in text
        assert "tokenveil_verifications_total 2.0" in text
        assert 'tokenveil_rejections_total{reason="monitor_deny"} 1.0' in text
        for secret in (FIRST_IP, SECOND_IP, access, "alice"):
            assert secret not in text


async def test_rejections_are_counted_by_reason(tmp_path: Path) -> None:
    """Expired/garbage/revoked tokens show up as rejection reasons, never as values."""
    async with running(make_settings(tmp_path)) as (client, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        access = (await login(client)).json()["access_token"]
        garbage = await client.get("/api/me", headers={"Authorization": "Bearer not.a.jwt"})
        assert garbage.status_code == 401
        principal = service.verify(access)
        await service.revoke_access(principal.jti, principal.expires_at)
        revoked = await client.get("/api/me", headers={"Authorization": f"Bearer {access}"})
        assert revoked.status_code == 401
        text = (await client.get("/metrics")).text
        assert 'tokenveil_rejections_total{reason="revoked"} 1.0' in text
        assert 'tokenveil_rejections_total{reason="malformed"} 1.0' in text


async def test_monitoring_off_by_default_issues_no_sid(tmp_path: Path) -> None:
    """Without monitoring the access token keeps the minimal claim set (no sid)."""
    async with running(make_settings(tmp_path)) as (client, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        access = (await login(client)).json()["access_token"]
        assert "sid" not in service.verify(access).claims
        assert service.defence.monitor is None
