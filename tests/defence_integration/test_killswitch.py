"""The kill switch in process: the cut-off edge, key rotation, family choices, the endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.server._app import PASSWORD, login, make_settings, refresh, running
from tokenveil.errors import InvalidRequest, RevokedToken
from tokenveil.keys._b64 import b64url_decode
from tokenveil.killswitch import next_cutoff, parse_families
from tokenveil.server import DEMO_CLIENT_ID
from tokenveil.service import TokenService
from tokenveil.store import MemoryStore


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _service(tmp_path: Path, clock: FakeClock) -> TokenService:
    return await TokenService.open(make_settings(tmp_path), store=MemoryStore(), clock=clock)


def _iat(token: str) -> int:
    value = json.loads(b64url_decode(token.split(".")[1]))["iat"]
    assert isinstance(value, int)
    return value


async def test_token_issued_in_the_purge_second_passes_and_one_before_never_does(
    tmp_path: Path,
) -> None:
    """iat = max(int(now), ceil(cutoff)): same-second tokens after the purge pass, before fail."""
    clock = FakeClock(1_800_000_000.3)
    service = await _service(tmp_path, clock)
    before = service.issuer.issue(sub="usr_a", client_id="c", scope=["profile"]).token
    assert service.verify(before).sub == "usr_a"

    clock.now = 1_800_000_000.5
    report = await service.purge()
    assert 1_800_000_000.5 < report.cutoff < 1_800_000_000.6

    clock.now = 1_800_000_000.7  # the same second as the purge
    after = service.issuer.issue(sub="usr_a", client_id="c", scope=["profile"]).token
    assert _iat(before) == 1_800_000_000
    assert _iat(after) == 1_800_000_001
    with pytest.raises(RevokedToken):
        service.verify(before)
    assert service.verify(after).sub == "usr_a"
    await service.close()


async def test_second_purge_in_the_same_second_rejects_tokens_issued_between(
    tmp_path: Path,
) -> None:
    """A token stamped ceil(first cut-off) is still below a second cut-off in that second."""
    clock = FakeClock(1_800_000_000.2)
    service = await _service(tmp_path, clock)
    await service.purge()
    clock.now = 1_800_000_000.4
    between = service.issuer.issue(sub="usr_a", client_id="c").token
    assert service.verify(between).sub == "usr_a"
    clock.now = 1_800_000_000.6
    second = await service.purge()
    assert second.cutoff > _iat(between)
    # The cut-off lies ahead of the moment the purge began; propagation is timed from the latter.
    assert second.started_at == 1_800_000_000.6 < second.cutoff
    assert second.as_dict()["started_at"] == second.started_at
    with pytest.raises(RevokedToken):
        service.verify(between)
    later = service.issuer.issue(sub="usr_a", client_id="c").token
    assert service.verify(later).sub == "usr_a"
    await service.close()


def test_next_cutoff_is_strictly_above_now_and_every_stamped_iat() -> None:
    """The cut-off exceeds now and ceil(previous cut-off)."""
    assert next_cutoff(100.0, None) > 100.0
    assert next_cutoff(100.5, 100.2) > 101.0
    assert next_cutoff(105.5, 100.2) == pytest.approx(105.5)


def test_parse_families_accepts_the_choices_and_a_login_name() -> None:
    """none/suspect/unbound/all are kinds; anything else names a user, hidden from repr."""
    assert parse_families(None).kind == "none"
    assert parse_families("unbound").kind == "unbound"
    chosen = parse_families("user:alice")
    assert (chosen.kind, chosen.username) == ("user", "alice")
    assert "alice" not in repr(parse_families("alice"))
    with pytest.raises(InvalidRequest):
        parse_families("user:")


async def test_emergency_rotation_revokes_every_old_key_and_signs_with_a_new_one(
    tmp_path: Path,
) -> None:
    """purge(rotate_keys=True): every earlier key revoked, a new active and next key."""
    clock = FakeClock(1_800_000_000.0)
    service = await _service(tmp_path, clock)
    old = {k.kid for k in service.keyring.list_keys()}
    old_token = service.issuer.issue(sub="usr_a", client_id="c").token
    clock.now += 5
    report = await service.purge(rotate_keys=True)
    states = {k.kid: k.state for k in service.keyring.list_keys()}
    assert report.keys_revoked == len(old) == 2
    assert all(states[kid] == "revoked" for kid in old)
    fresh = {kid: state for kid, state in states.items() if kid not in old}
    assert sorted(fresh.values()) == ["active", "next"]
    assert report.active_kid in fresh
    with pytest.raises(RevokedToken):
        service.verify(old_token)
    new_token = service.issuer.issue(sub="usr_a", client_id="c").token
    assert service.verify(new_token).kid == report.active_kid
    await service.close()


async def test_family_choices_revoke_suspect_unbound_all_or_one_user(tmp_path: Path) -> None:
    """suspect, unbound, a user, all: each revokes exactly its families; events hold no PII."""
    clock = FakeClock(1_800_000_000.0)
    service = await _service(tmp_path, clock)
    alice = await service.add_user("alice", PASSWORD)
    bob = await service.add_user("bob", PASSWORD)
    start = service.refresh.start
    bearer = (await start(sub=alice.id, client_id="c", scope=[])).family
    bound = (await start(sub=alice.id, client_id="c", scope=[], dpop_jkt="jkt-1")).family
    flagged = (await start(sub=bob.id, client_id="c", scope=[], dpop_jkt="jkt-2")).family
    bobs = (await start(sub=bob.id, client_id="c", scope=[])).family
    await service.store.mark_suspect(flagged.id)

    async def live() -> set[str]:
        return {f.id for f in await service.store.list_families() if f.revoked_at is None}

    assert (await service.purge(revoke_families="suspect")).families_revoked == 1
    assert await live() == {bearer.id, bound.id, bobs.id}
    assert (await service.purge(revoke_families="unbound")).families_revoked == 2
    assert await live() == {bound.id}
    with pytest.raises(InvalidRequest):
        await service.purge(revoke_families="nobody-by-that-name")
    assert (await service.purge(revoke_families="alice")).families_revoked == 1
    assert await live() == set()
    assert (await service.purge(revoke_families="all")).families_revoked == 0

    events = await service.store.list_events("killswitch.purge")
    assert [e.details["families"] for e in events] == ["all", "user", "unbound", "suspect"]
    assert all("alice" not in json.dumps(dict(e.details)) for e in events)
    assert events[1].details["families_revoked"] == 1
    await service.close()


async def test_admin_endpoint_needs_its_scope_and_clean_clients_renew(tmp_path: Path) -> None:
    """Only a client_credentials token with admin:killswitch fires it; a user refreshes after."""
    async with running(make_settings(tmp_path)) as (client, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile", "admin:killswitch"])
        _, secret = await service.add_client(
            "ops",
            scopes=["admin:killswitch"],
            grant_types=["client_credentials"],
            confidential=True,
        )
        assert secret is not None
        tokens = (await login(client)).json()
        assert "admin:killswitch" not in tokens["scope"]
        user_headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        refused = await client.post(
            "/admin/killswitch", json={"rotate_keys": False}, headers=user_headers
        )
        assert refused.status_code == 403
        denied = await login(client, scope="profile admin:killswitch")
        assert denied.status_code == 400
        assert denied.json()["error"] == "invalid_scope"

        admin = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "admin:killswitch"},
            auth=httpx.BasicAuth("ops", secret),
        )
        assert admin.status_code == 200
        fired = await client.post(
            "/admin/killswitch",
            json={"rotate_keys": True, "revoke_families": "suspect"},
            headers={"Authorization": f"Bearer {admin.json()['access_token']}"},
        )
        assert fired.status_code == 200, fired.text
        assert fired.headers["cache-control"] == "no-store"
        assert fired.json()["keys_revoked"] == 2
        assert fired.json()["families"] == "suspect"
        event = (await service.store.list_events("killswitch.purge"))[0]
        assert event.details["by"] == "client:ops"

        assert (await client.get("/api/me", headers=user_headers)).status_code == 401
        renewed = await refresh(client, tokens["refresh_token"])
        assert renewed.status_code == 200
        again = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
        assert (await client.get("/api/me", headers=again)).status_code == 200


async def test_admin_endpoint_refuses_unknown_family_choice_without_echoing_it(
    tmp_path: Path,
) -> None:
    """An unknown user name is a generic 400 that does not repeat the name."""
    async with running(make_settings(tmp_path)) as (client, service, _):
        _, secret = await service.add_client(
            "ops",
            scopes=["admin:killswitch"],
            grant_types=["client_credentials"],
            confidential=True,
        )
        assert secret is not None
        admin = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth("ops", secret),
        )
        answer = await client.post(
            "/admin/killswitch",
            json={"revoke_families": "carol.secret@example.com"},
            headers={"Authorization": f"Bearer {admin.json()['access_token']}"},
        )
        assert answer.status_code == 400
        assert "carol" not in answer.text
        assert DEMO_CLIENT_ID not in answer.text
