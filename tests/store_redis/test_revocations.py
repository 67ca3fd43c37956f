"""``RedisRevocations`` keeps the RevocationStore contract and announces every change."""

from __future__ import annotations

import asyncio
import json

import pytest

from tokenveil.store import RevocationStore
from tokenveil.store.redis import Invalidation, Redis, RedisRevocations

pytestmark = pytest.mark.redis

NOW = 1_800_000_000.0


@pytest.fixture
def revocations(client: Redis, prefix: str) -> RedisRevocations:
    return RedisRevocations(client, prefix=prefix)


def test_satisfies_the_revocation_store_protocol(revocations: RedisRevocations) -> None:
    """RedisRevocations can stand wherever a RevocationStore is expected."""
    store: RevocationStore = revocations
    assert store is revocations


async def test_revoked_jtis_returns_only_unexpired(revocations: RedisRevocations) -> None:
    """A revoked jti is reported until its expiry, and a re-revocation never shortens it."""
    await revocations.revoke_jti("a", NOW + 10)
    await revocations.revoke_jti("b", NOW + 100)
    await revocations.revoke_jti("b", NOW + 5)
    assert await revocations.revoked_jtis(NOW) == {"a", "b"}
    assert await revocations.revoked_jtis(NOW + 10) == {"b"}
    assert await revocations.revoked_jtis(NOW + 100) == set()


async def test_is_revoked_answers_for_one_jti(revocations: RedisRevocations) -> None:
    """is_revoked is true until the token's own expiry, false for unknown jtis."""
    await revocations.revoke_jti("a", NOW + 10)
    assert await revocations.is_revoked("a", NOW)
    assert not await revocations.is_revoked("a", NOW + 10)
    assert not await revocations.is_revoked("zzz", NOW)


async def test_cutoff_set_and_get(revocations: RedisRevocations) -> None:
    """The kill-switch cutoff is None until set, then the latest value, to the sub-second."""
    assert await revocations.get_cutoff() is None
    await revocations.set_cutoff(NOW)
    await revocations.set_cutoff(NOW + 0.5)
    assert await revocations.get_cutoff() == NOW + 0.5


async def test_every_change_moves_the_state_version(revocations: RedisRevocations) -> None:
    """Version starts at 0; revoke, cutoff and bump each increase it by one."""
    assert await revocations.state_version() == 0
    await revocations.revoke_jti("j", NOW + 1)
    await revocations.set_cutoff(NOW)
    assert await revocations.bump_state_version() == 3
    assert await revocations.state_version() == 3


async def test_concurrent_bumps_never_lose_an_increment(revocations: RedisRevocations) -> None:
    """Ten concurrent bumps return ten distinct values and end ten higher."""
    values = await asyncio.gather(*(revocations.bump_state_version() for _ in range(10)))
    assert sorted(values) == list(range(1, 11))


async def test_every_change_is_published_to_another_client(
    revocations: RedisRevocations, redis_url: str
) -> None:
    """A second connection subscribed to the channel receives one message per change."""
    from tokenveil.store.redis import connect

    other = connect(redis_url)
    pubsub = other.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(revocations.channel)
        await revocations.revoke_jti("jti-9", NOW + 60)
        await revocations.set_cutoff(NOW)
        await revocations.bump_state_version()
        received: list[Invalidation] = []
        async with asyncio.timeout(5):
            while len(received) < 3:
                message = await pubsub.get_message(timeout=1.0)
                if message and message["type"] == "message":
                    parsed = Invalidation.parse(message["data"])
                    assert parsed is not None
                    received.append(parsed)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await other.aclose()
    assert received == [
        Invalidation("revoke_jti", 1, jti="jti-9", expires_at=NOW + 60),
        Invalidation("cutoff", 2, cutoff=NOW),
        Invalidation("version", 3),
    ]


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", json.dumps({"type": "drop_tables", "version": 1}).encode(), b"{}"],
)
def test_foreign_messages_are_ignored(data: bytes) -> None:
    """Anything on the channel that is not one of our messages parses to None."""
    assert Invalidation.parse(data) is None
