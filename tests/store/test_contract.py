"""The store contract: every backend (memory, SQLite, PostgreSQL) passes these same tests."""

from __future__ import annotations

import asyncio

import pytest

from tokenveil.errors import StoreError
from tokenveil.store import (
    Client,
    RefreshFamily,
    RefreshRecord,
    SecurityEvent,
    Store,
    StoredKey,
    User,
)

NOW = 1_700_000_000.0
DAY = 86_400.0


def user(uid: str = "u1", username: str = "alice", created_at: float = NOW) -> User:
    return User(
        id=uid,
        username=username,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        email=f"{username}@example.test",
        scopes=("profile:read", "orders:read"),
        created_at=created_at,
    )


def key(kid: str, created_at: float, state: str = "active") -> StoredKey:
    return StoredKey(
        kid=kid,
        alg="ES256",
        state=state,  # type: ignore[arg-type]
        public_jwk={"kty": "EC", "crv": "P-256", "x": "x-" + kid, "y": "y-" + kid, "kid": kid},
        private_blob=b"\x00\x01encrypted\xff" + kid.encode(),
        created_at=created_at,
        activated_at=created_at + 1 if state != "next" else None,
    )


def family(
    fid: str = "f1",
    sub: str = "u1",
    created_at: float = NOW,
    expires_at: float = NOW + 30 * DAY,
) -> RefreshFamily:
    return RefreshFamily(
        id=fid,
        sub=sub,
        client_id="web",
        scope=("orders:read",),
        created_at=created_at,
        expires_at=expires_at,
        dpop_jkt="jkt-" + fid,
    )


def record(token_hash: str, fid: str = "f1", idle: float = NOW + DAY) -> RefreshRecord:
    return RefreshRecord(token_hash=token_hash, family_id=fid, created_at=NOW, idle_expires_at=idle)


# -- users and clients -----------------------------------------------------------------------


async def test_user_round_trips_every_field(store: Store) -> None:
    """A stored user comes back equal, by id and by username."""
    alice = user()
    await store.add_user(alice)
    assert await store.get_user("u1") == alice
    assert await store.get_user_by_username("alice") == alice
    assert await store.get_user("nobody") is None
    assert await store.get_user_by_username("nobody") is None


async def test_duplicate_username_is_a_store_error(store: Store) -> None:
    """A taken username raises StoreError and leaves the first user untouched."""
    await store.add_user(user("u1", "alice"))
    with pytest.raises(StoreError):
        await store.add_user(user("u2", "alice"))
    assert [u.id for u in await store.list_users()] == ["u1"]


async def test_store_error_for_duplicate_username_does_not_echo_it(store: Store) -> None:
    """The duplicate-username error message never contains the username (invariant 6)."""
    await store.add_user(user("u1", "carol.secret"))
    with pytest.raises(StoreError) as caught:
        await store.add_user(user("u2", "carol.secret"))
    assert "carol.secret" not in str(caught.value)
    assert "carol.secret" not in repr(caught.value)


async def test_list_users_oldest_first(store: Store) -> None:
    """Users are listed by creation time."""
    await store.add_user(user("u2", "bob", created_at=NOW + 5))
    await store.add_user(user("u1", "alice", created_at=NOW))
    assert [u.username for u in await store.list_users()] == ["alice", "bob"]


async def test_client_round_trip_and_duplicate_id(store: Store) -> None:
    """Clients round-trip every field; a taken client id raises StoreError."""
    web = Client(
        client_id="web",
        name="Web app",
        secret_hash="$argon2id$hash",
        scopes=("orders:read",),
        grant_types=("refresh_token",),
        dpop_bound=True,
        created_at=NOW,
    )
    cli = Client(client_id="cli", created_at=NOW + 1)
    await store.add_client(web)
    await store.add_client(cli)
    assert await store.get_client("web") == web
    assert await store.get_client("cli") == cli
    assert await store.get_client("none") is None
    with pytest.raises(StoreError):
        await store.add_client(Client(client_id="web"))
    assert [c.client_id for c in await store.list_clients()] == ["web", "cli"]


# -- keys ------------------------------------------------------------------------------------


async def test_keys_listed_oldest_first_with_blob_intact(store: Store) -> None:
    """Keys come back oldest first, with the encrypted blob byte for byte."""
    await store.put_key(key("k2", NOW + 10))
    await store.put_key(key("k1", NOW, state="retiring"))
    keys = await store.list_keys()
    assert [k.kid for k in keys] == ["k1", "k2"]
    assert keys[0] == key("k1", NOW, state="retiring")
    assert keys[1].private_blob == b"\x00\x01encrypted\xffk2"


async def test_put_key_replaces_the_same_kid(store: Store) -> None:
    """Putting a key with a known kid replaces it rather than adding a second one."""
    await store.put_key(key("k1", NOW, state="next"))
    replaced = StoredKey(
        kid="k1",
        alg="ES256",
        state="retiring",
        public_jwk={"kty": "EC"},
        private_blob=b"new",
        created_at=NOW,
        activated_at=NOW + 1,
        retired_at=NOW + 2,
        not_after=NOW + 3,
    )
    await store.put_key(replaced)
    assert await store.list_keys() == [replaced]


async def test_revoked_key_stays_revoked_whoever_writes_later(store: Store) -> None:
    """Revocation is terminal: a stale write-back (a concurrent rotation) cannot revive a key."""
    await store.put_key(key("k1", NOW, state="active"))
    await store.put_key(key("k1", NOW, state="revoked"))
    await store.put_key(key("k1", NOW, state="retiring"))
    [stored] = await store.list_keys()
    assert stored.state == "revoked"


async def test_delete_key_is_idempotent(store: Store) -> None:
    """Deleting removes the key; deleting it again is no error."""
    await store.put_key(key("k1", NOW))
    await store.put_key(key("k2", NOW + 1))
    await store.delete_key("k1")
    await store.delete_key("k1")
    assert [k.kid for k in await store.list_keys()] == ["k2"]


# -- refresh families ------------------------------------------------------------------------


async def test_consume_ok_once_then_reused(store: Store) -> None:
    """A token consumes ``ok`` once (with record and family), then ``reused`` forever."""
    await store.create_family(family(), record("h1"))
    first = await store.consume("h1", NOW + 5)
    assert first.status == "ok"
    assert first.record is not None
    assert first.record.consumed_at == NOW + 5
    assert first.record.family_id == "f1"
    assert first.family == family()
    again = await store.consume("h1", NOW + 6)
    assert again.status == "reused"
    assert again.record is not None
    assert again.record.consumed_at == NOW + 5
    assert again.family is not None
    assert again.family.id == "f1"


async def test_peek_reports_without_consuming(store: Store) -> None:
    """peek reads a token's state and family and leaves it consumable."""
    await store.create_family(family(), record("h1"))
    peeked = await store.peek("h1")
    assert peeked.status == "ok"
    assert peeked.family == family()
    assert (await store.consume("h1", NOW + 1)).status == "ok"
    assert (await store.peek("h1")).status == "reused"
    assert (await store.peek("never-issued")).status == "unknown"


async def test_consume_unknown_token(store: Store) -> None:
    """A hash never stored is ``unknown``, with neither record nor family."""
    result = await store.consume("never-issued", NOW)
    assert result.status == "unknown"
    assert result.record is None
    assert result.family is None


async def test_successor_token_consumes_independently(store: Store) -> None:
    """A token added to a family is consumable on its own after its parent was consumed."""
    await store.create_family(family(), record("h1"))
    assert (await store.consume("h1", NOW)).status == "ok"
    await store.add_token(record("h2"))
    assert (await store.consume("h2", NOW + 1)).status == "ok"
    assert (await store.consume("h1", NOW + 2)).status == "reused"


async def test_duplicate_family_or_token_is_a_store_error(store: Store) -> None:
    """Family ids and token hashes are unique; a token needs an existing family."""
    await store.create_family(family(), record("h1"))
    with pytest.raises(StoreError):
        await store.create_family(family(), record("h9"))
    with pytest.raises(StoreError):
        await store.add_token(record("h1"))
    with pytest.raises(StoreError):
        await store.add_token(record("h3", fid="no-such-family"))
    with pytest.raises(StoreError):
        await store.create_family(family("f2"), record("h4", fid="f1"))
    assert await store.get_family("f2") is None


async def test_revoke_family_keeps_first_reason(store: Store) -> None:
    """A second revocation changes neither the time nor the reason of the first."""
    await store.create_family(family(), record("h1"))
    await store.revoke_family("f1", NOW + 1, "reuse")
    await store.revoke_family("f1", NOW + 2, "killswitch")
    await store.revoke_family("no-such-family", NOW, "x")
    got = await store.get_family("f1")
    assert got is not None
    assert got.revoked_at == NOW + 1
    assert got.revoke_reason == "reuse"


async def test_revoke_families_by_sub_suspect_and_all(store: Store) -> None:
    """Bulk revocation filters by sub and by suspect flag and counts only live families."""
    await store.create_family(family("a1", sub="alice"), record("ha1", "a1"))
    await store.create_family(family("a2", sub="alice"), record("ha2", "a2"))
    await store.create_family(family("b1", sub="bob"), record("hb1", "b1"))
    await store.create_family(family("b2", sub="bob"), record("hb2", "b2"))
    await store.create_family(family("c1", sub="carol"), record("hc1", "c1"))
    await store.create_family(
        family("old", sub="bob", expires_at=NOW - 1), record("hold", "old", idle=NOW - 1)
    )
    await store.mark_suspect("b2")
    await store.mark_suspect("no-such-family")

    assert await store.revoke_families(NOW, "user", sub="alice") == 2
    assert await store.revoke_families(NOW + 1, "suspect", only_suspect=True) == 1
    assert await store.revoke_families(NOW + 2, "killswitch") == 2  # b1, c1; "old" expired
    assert await store.revoke_families(NOW + 3, "again") == 0

    reasons = {f.id: (f.revoke_reason, f.revoked_at) for f in await store.list_families()}
    assert reasons == {
        "a1": ("user", NOW),
        "a2": ("user", NOW),
        "b2": ("suspect", NOW + 1),
        "b1": ("killswitch", NOW + 2),
        "c1": ("killswitch", NOW + 2),
        "old": (None, None),
    }


async def test_mark_suspect_flags_only_that_family(store: Store) -> None:
    """mark_suspect sets the flag on one family and no other."""
    await store.create_family(family("f1"), record("h1", "f1"))
    await store.create_family(family("f2"), record("h2", "f2"))
    await store.mark_suspect("f2")
    f1, f2 = await store.get_family("f1"), await store.get_family("f2")
    assert f1 is not None
    assert f2 is not None
    assert (f1.suspect, f2.suspect) == (False, True)


async def test_list_families_by_sub_oldest_first(store: Store) -> None:
    """list_families filters by sub and sorts by creation time."""
    await store.create_family(family("f2", sub="alice", created_at=NOW + 2), record("h2", "f2"))
    await store.create_family(family("f1", sub="alice", created_at=NOW), record("h1", "f1"))
    await store.create_family(family("f3", sub="bob"), record("h3", "f3"))
    assert [f.id for f in await store.list_families("alice")] == ["f1", "f2"]
    assert {f.id for f in await store.list_families()} == {"f1", "f2", "f3"}
    assert await store.list_families("nobody") == []


async def test_purge_expired_deletes_only_dead_rows(store: Store) -> None:
    """Purge drops expired families with their tokens, idle-expired unconsumed tokens and
    expired jti revocations; consumed tokens of live families stay for reuse detection."""
    await store.create_family(family("dead", expires_at=NOW - 1), record("hd1", "dead"))
    await store.add_token(record("hd2", "dead"))
    await store.create_family(family("live"), record("consumed", "live", idle=NOW - 10))
    assert (await store.consume("consumed", NOW - 20)).status == "ok"
    await store.add_token(record("idle-gone", "live", idle=NOW - 5))
    await store.add_token(record("fresh", "live", idle=NOW + 5))
    await store.revoke_jti("jti-old", NOW - 1)
    await store.revoke_jti("jti-live", NOW + 60)

    assert await store.purge_expired(NOW) == 5  # 2 tokens + 1 family, 1 idle token, 1 jti
    assert await store.get_family("dead") is None
    assert (await store.consume("hd1", NOW)).status == "unknown"
    assert (await store.consume("idle-gone", NOW)).status == "unknown"
    assert (await store.consume("consumed", NOW)).status == "reused"
    assert (await store.consume("fresh", NOW)).status == "ok"
    assert await store.revoked_jtis(NOW - 100) == {"jti-live"}
    assert await store.purge_expired(NOW) == 0


async def test_twenty_concurrent_consumes_yield_exactly_one_ok(store: Store) -> None:
    """Of 20 concurrent consumes of one token exactly one is ``ok`` (RFC 9700 §4.14)."""
    await store.create_family(family(), record("race"))
    results = await asyncio.gather(*(store.consume("race", NOW + i) for i in range(20)))
    statuses = sorted(r.status for r in results)
    assert statuses == ["ok"] + ["reused"] * 19


async def test_rotate_consumes_and_stores_the_successor_in_one_step(store: Store) -> None:
    """rotate: the token becomes ``reused`` and its successor is stored, consumable on its own."""
    await store.create_family(family(), record("h1"))
    result = await store.rotate("h1", record("h2"), NOW + 5)
    assert result.status == "ok"
    assert result.record is not None
    assert result.record.consumed_at == NOW + 5
    assert result.family == family()
    assert (await store.peek("h1")).status == "reused"
    assert (await store.consume("h2", NOW + 6)).status == "ok"


async def test_rotate_of_a_reused_or_unknown_token_writes_nothing(store: Store) -> None:
    """``reused`` and ``unknown`` store no successor."""
    await store.create_family(family(), record("h1"))
    assert (await store.consume("h1", NOW)).status == "ok"
    reused = await store.rotate("h1", record("h2"), NOW + 1)
    assert reused.status == "reused"
    assert reused.family is not None
    assert (await store.peek("h2")).status == "unknown"
    unknown = await store.rotate("never-issued", record("h3"), NOW + 1)
    assert unknown.status == "unknown"
    assert unknown.family is None
    assert (await store.peek("h3")).status == "unknown"


async def test_rotate_whose_successor_cannot_be_stored_leaves_the_token_unconsumed(
    store: Store,
) -> None:
    """Both or neither: a successor whose hash is taken, or of another family, is a StoreError
    and the token stays usable (a failed write never burns it)."""
    await store.create_family(family(), record("h1"))
    await store.create_family(family("f2"), record("taken", fid="f2"))
    with pytest.raises(StoreError):
        await store.rotate("h1", record("taken"), NOW + 1)
    with pytest.raises(StoreError):
        await store.rotate("h1", record("h2", fid="f2"), NOW + 1)
    assert (await store.peek("h1")).status == "ok"
    assert (await store.peek("h2")).status == "unknown"
    assert (await store.rotate("h1", record("h2"), NOW + 2)).status == "ok"


async def test_rotate_stores_no_successor_for_a_dead_family(store: Store) -> None:
    """A revoked or expired family, or an idle token, is consumed but gets no successor."""
    await store.create_family(family(), record("h1"))
    await store.revoke_family("f1", NOW, "test")
    assert (await store.rotate("h1", record("h1-next"), NOW + 1)).status == "ok"
    await store.create_family(family("f2", expires_at=NOW + 10), record("h2", fid="f2"))
    assert (await store.rotate("h2", record("h2-next", fid="f2"), NOW + 10)).status == "ok"
    await store.create_family(family("f3"), record("h3", fid="f3", idle=NOW + 3))
    assert (await store.rotate("h3", record("h3-next", fid="f3"), NOW + 3)).status == "ok"
    for successor in ("h1-next", "h2-next", "h3-next"):
        assert (await store.peek(successor)).status == "unknown"


async def test_twenty_concurrent_rotates_store_exactly_one_successor(store: Store) -> None:
    """Of 20 concurrent rotations of one token exactly one is ``ok`` and only its successor
    is stored (RFC 9700 §4.14)."""
    await store.create_family(family(), record("race"))
    results = await asyncio.gather(
        *(store.rotate("race", record(f"next-{i}"), NOW + i) for i in range(20))
    )
    assert sorted(r.status for r in results) == ["ok"] + ["reused"] * 19
    winner = next(i for i, r in enumerate(results) if r.status == "ok")
    stored = [i for i in range(20) if (await store.peek(f"next-{i}")).status == "ok"]
    assert stored == [winner]


# -- revocation and state --------------------------------------------------------------------


async def test_revoked_jtis_returns_only_unexpired(store: Store) -> None:
    """A revoked jti is reported until its expiry, and a re-revocation never shortens it."""
    await store.revoke_jti("a", NOW + 10)
    await store.revoke_jti("b", NOW + 100)
    await store.revoke_jti("b", NOW + 5)
    assert await store.revoked_jtis(NOW) == {"a", "b"}
    assert await store.revoked_jtis(NOW + 10) == {"b"}
    assert await store.revoked_jtis(NOW + 100) == set()


async def test_cutoff_set_and_get(store: Store) -> None:
    """The kill-switch cutoff is None until set, then the latest value."""
    assert await store.get_cutoff() is None
    await store.set_cutoff(NOW)
    await store.set_cutoff(NOW + 0.5)
    assert await store.get_cutoff() == NOW + 0.5


async def test_state_version_only_grows(store: Store) -> None:
    """bump returns the new value; key and revocation changes also move the version up."""
    seen = [await store.state_version()]
    assert seen[0] == 0
    assert await store.bump_state_version() == 1
    seen.append(await store.state_version())
    await store.put_key(key("k1", NOW))
    seen.append(await store.state_version())
    await store.revoke_jti("j", NOW + 1)
    seen.append(await store.state_version())
    await store.set_cutoff(NOW)
    seen.append(await store.state_version())
    await store.delete_key("k1")
    seen.append(await store.state_version())
    assert seen == sorted(set(seen)), seen
    assert await store.bump_state_version() == seen[-1] + 1


async def test_concurrent_bumps_never_lose_an_increment(store: Store) -> None:
    """Ten concurrent bumps return ten distinct values and end ten higher."""
    start = await store.state_version()
    values = await asyncio.gather(*(store.bump_state_version() for _ in range(10)))
    assert sorted(values) == list(range(start + 1, start + 11))
    assert await store.state_version() == start + 10


# -- audit -----------------------------------------------------------------------------------


async def test_events_newest_first_with_limit_and_kind(store: Store) -> None:
    """Events come back newest first, filtered by kind and cut at the limit, details intact."""
    await store.record_event(SecurityEvent("login", NOW, {"sub": "u1"}))
    await store.record_event(
        SecurityEvent("refresh_reuse", NOW + 1, {"family": "f1", "n": 2, "ok": False, "x": None})
    )
    await store.record_event(SecurityEvent("login", NOW + 2, {"sub": "u2", "score": 0.5}))

    events = await store.list_events()
    assert [(e.kind, e.at) for e in events] == [
        ("login", NOW + 2),
        ("refresh_reuse", NOW + 1),
        ("login", NOW),
    ]
    assert events[1].details == {"family": "f1", "n": 2, "ok": False, "x": None}
    assert len({e.id for e in events}) == 3
    assert all(e.id > 0 for e in events)
    assert [e.details["sub"] for e in await store.list_events("login")] == ["u2", "u1"]
    assert [e.at for e in await store.list_events(limit=2)] == [NOW + 2, NOW + 1]
    assert await store.list_events("none") == []


async def test_events_at_the_same_instant_keep_insertion_order_reversed(store: Store) -> None:
    """Two events with equal timestamps come back last-recorded first."""
    await store.record_event(SecurityEvent("a", NOW, {}))
    await store.record_event(SecurityEvent("b", NOW, {}))
    assert [e.kind for e in await store.list_events()] == ["b", "a"]
