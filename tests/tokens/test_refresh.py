"""Refresh-token families: rotation, reuse detection, idle and absolute lifetimes, binding."""

from __future__ import annotations

import asyncio

import pytest

from tests.tokens._helpers import Clock
from tokenveil.errors import InvalidGrant, RefreshTokenReuse, StoreError, StoreUnavailable
from tokenveil.store import ConsumeResult, MemoryStore, RefreshRecord, Store
from tokenveil.tokens import REFRESH_TOKEN_PATTERN, RefreshTokens, _refresh, hash_refresh_token

HOUR = 3600


def _tokens(store: Store, clock: Clock) -> RefreshTokens:
    return RefreshTokens(store, idle_ttl=24 * HOUR, absolute_ttl=30 * 24 * HOUR, clock=clock)


async def test_token_is_opaque_and_stored_only_hashed() -> None:
    """A refresh token is tvr_ + 256 random bits; the store never sees the value."""
    store, clock = MemoryStore(), Clock()
    new = await _tokens(store, clock).start(sub="usr_1", client_id="web", scope=["profile"])
    assert REFRESH_TOKEN_PATTERN.fullmatch(new.token)
    assert len(new.token) == 4 + 43
    assert new.token not in repr(new)
    assert new.token not in repr(store.__dict__)
    assert hash_refresh_token(new.token) in repr(store.__dict__)


async def test_rotation_returns_a_new_token_in_the_same_family() -> None:
    """Each use consumes the token and returns a successor in the same family."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=["profile"])
    second = await tokens.rotate(first.token, client_id="web")
    assert second.token != first.token
    assert second.family.id == first.family.id


async def test_reuse_revokes_family_and_records_event() -> None:
    """RFC 9700 §4.14: presenting a consumed token revokes the family, successors included."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=["profile"])
    second = await tokens.rotate(first.token, client_id="web")
    with pytest.raises(RefreshTokenReuse):
        await tokens.rotate(first.token, client_id="web")
    with pytest.raises(InvalidGrant):
        await tokens.rotate(second.token, client_id="web")
    family = await store.get_family(first.family.id)
    assert family is not None
    assert family.revoke_reason == "reuse"
    assert [e.kind for e in await store.list_events()] == ["refresh.reuse"]


async def test_idle_timeout_expires_an_unused_token() -> None:
    """A token unused for longer than the idle timeout no longer refreshes."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[])
    clock.advance(24 * HOUR + 1)
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.token, client_id="web")


async def test_absolute_lifetime_ends_the_family_even_when_used_daily() -> None:
    """Daily use keeps the idle timer fresh, but the family dies at its absolute lifetime."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    current = (await tokens.start(sub="usr_1", client_id="web", scope=[])).token
    for _ in range(59):  # every 12 hours for 29.5 days
        clock.advance(12 * HOUR)
        current = (await tokens.rotate(current, client_id="web")).token
    clock.advance(12 * HOUR + 60)  # used 12 hours ago (idle timeout is 24), but day 30 passed
    with pytest.raises(InvalidGrant):
        await tokens.rotate(current, client_id="web")


async def test_token_bound_to_its_client() -> None:
    """RFC 6749 §6: another client presenting the token gets nothing, and the family dies."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[])
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.token, client_id="other")
    family = await store.get_family(first.family.id)
    assert family is not None
    assert family.revoked_at is not None


async def test_dpop_bound_family_rotates_only_with_the_same_key() -> None:
    """RFC 9449 §5: a DPoP-bound family needs proof of the same key to rotate."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[], dpop_jkt="thumb-A")
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.token, client_id="web", dpop_jkt="thumb-B")
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.token, client_id="web")


async def test_thief_without_the_dpop_key_cannot_burn_the_owners_token() -> None:
    """A failed rotation for want of the bound key leaves the token usable by its owner."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[], dpop_jkt="thumb-A")
    with pytest.raises(InvalidGrant):
        await tokens.rotate(first.token, client_id="web", dpop_jkt="thumb-thief")
    second = await tokens.rotate(first.token, client_id="web", dpop_jkt="thumb-A")
    assert second.family.id == first.family.id
    assert await store.list_events() == []


async def test_revocation_by_another_client_changes_nothing() -> None:
    """RFC 7009 §2.1: only the issuing client may revoke; another one cannot burn the token."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[])
    await tokens.revoke(first.token, client_id="other")
    assert (await tokens.rotate(first.token, client_id="web")).family.id == first.family.id


async def test_revocation_by_its_client_kills_the_family() -> None:
    """RFC 7009: the issuing client's revocation ends the token and its whole family."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[])
    second = await tokens.rotate(first.token, client_id="web")
    await tokens.revoke(second.token, client_id="web")
    with pytest.raises(InvalidGrant):
        await tokens.rotate(second.token, client_id="web")
    family = await store.get_family(first.family.id)
    assert family is not None
    assert family.revoke_reason == "revoked_by_client"


@pytest.mark.parametrize("garbage", ["", "tvr_short", "eyJhbGciOi.x.y", "tvr_" + "!" * 43])
async def test_malformed_tokens_refused_without_store_access(garbage: str) -> None:
    """Anything not shaped like a refresh token is refused before the store is asked."""
    store = MemoryStore()
    store.set_unavailable()
    with pytest.raises(InvalidGrant):
        await _tokens(store, Clock()).rotate(garbage, client_id="web")


async def test_concurrent_rotation_exactly_one_wins() -> None:
    """Ten concurrent rotations of one token: exactly one succeeds, the rest see reuse."""
    store, clock = MemoryStore(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=[])
    results = await asyncio.gather(
        *(tokens.rotate(first.token, client_id="web") for _ in range(10)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, InvalidGrant) for r in results if isinstance(r, BaseException))


class SuccessorWriteFails(MemoryStore):
    """A store whose write of a successor token fails (a lost connection mid-rotation)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    async def add_token(self, record: RefreshRecord) -> None:
        if self.failing:
            raise StoreUnavailable("the store is unavailable")
        await super().add_token(record)

    async def rotate(self, token_hash: str, successor: RefreshRecord, now: float) -> ConsumeResult:
        if self.failing:  # one transaction: the consume fails with the write
            raise StoreUnavailable("the store is unavailable")
        return await super().rotate(token_hash, successor, now)


async def test_store_failure_while_rotating_does_not_burn_the_token() -> None:
    """A store failure during rotation leaves the token usable: the owner's retry succeeds and
    is not taken for reuse (no family revocation, no reuse event)."""
    store, clock = SuccessorWriteFails(), Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=["profile"])
    store.failing = True
    with pytest.raises(StoreUnavailable):
        await tokens.rotate(first.token, client_id="web")
    store.failing = False
    second = await tokens.rotate(first.token, client_id="web")
    assert second.family.id == first.family.id
    family = await store.get_family(first.family.id)
    assert family is not None
    assert family.revoked_at is None
    assert await store.list_events("refresh.reuse") == []


async def test_successor_write_refused_by_the_database_does_not_burn_the_token(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every backend, a successor the store refuses (here: its hash is taken) rolls the
    consume back: the token still refreshes afterwards, without a reuse alarm."""
    clock = Clock()
    tokens = _tokens(store, clock)
    first = await tokens.start(sub="usr_1", client_id="web", scope=["profile"])
    other = await tokens.start(sub="usr_2", client_id="web", scope=["profile"])
    monkeypatch.setattr(_refresh, "_new_token", lambda: other.token)
    with pytest.raises(StoreError):
        await tokens.rotate(first.token, client_id="web")
    monkeypatch.undo()
    second = await tokens.rotate(first.token, client_id="web")
    assert second.token != other.token
    assert await store.list_events("refresh.reuse") == []


async def test_concurrent_rotation_exactly_one_wins_on_every_backend(store: Store) -> None:
    """Ten concurrent rotations on memory, SQLite and PostgreSQL: one succeeds, the others are
    reuse, and the family is revoked (RFC 9700 §4.14)."""
    tokens = _tokens(store, Clock())
    first = await tokens.start(sub="usr_1", client_id="web", scope=[])
    results = await asyncio.gather(
        *(tokens.rotate(first.token, client_id="web") for _ in range(10)), return_exceptions=True
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, RefreshTokenReuse) for r in results if isinstance(r, BaseException))
    family = await store.get_family(first.family.id)
    assert family is not None
    assert family.revoke_reason == "reuse"
