"""``RedisReplayCache``: one DPoP proof, one use, across every instance."""

from __future__ import annotations

import asyncio

import pytest

from tokenveil.dpop import InvalidDPoPProof, create_proof, verify_proof
from tokenveil.keys import generate_private_key
from tokenveil.store.redis import Redis, RedisReplayCache

pytestmark = pytest.mark.redis

NOW = 1_800_000_000.0


async def test_second_use_is_refused(client: Redis, prefix: str) -> None:
    """first_use is True once, then False for the same key."""
    cache = RedisReplayCache(client, prefix=prefix)
    assert await cache.first_use("k", now=NOW, ttl=60)
    assert not await cache.first_use("k", now=NOW, ttl=60)
    assert await cache.first_use("other", now=NOW, ttl=60)


async def test_key_is_forgotten_after_its_ttl(client: Redis, prefix: str) -> None:
    """Entries expire in Redis after ttl, so memory does not grow with traffic."""
    cache = RedisReplayCache(client, prefix=prefix)
    assert await cache.first_use("k", now=NOW, ttl=0.05)
    await asyncio.sleep(0.1)
    assert await cache.first_use("k", now=NOW, ttl=0.05)


async def test_concurrent_uses_from_two_instances_admit_exactly_one(
    client: Redis, prefix: str, redis_url: str
) -> None:
    """Twenty racing first_use calls over two connections: exactly one wins."""
    from tokenveil.store.redis import connect

    other = connect(redis_url)
    try:
        caches = [RedisReplayCache(client, prefix=prefix), RedisReplayCache(other, prefix=prefix)]
        results = await asyncio.gather(
            *(caches[i % 2].first_use("race", now=NOW, ttl=60) for i in range(20))
        )
    finally:
        await other.aclose()
    assert sorted(results) == [False] * 19 + [True]


async def test_proof_replayed_on_another_instance_is_refused(client: Redis, prefix: str) -> None:
    """A proof accepted by one instance is refused by another sharing the Redis cache."""
    key = generate_private_key("ES256")
    proof = create_proof(key, htm="GET", htu="https://api.test/x", now=NOW)
    instances = [RedisReplayCache(client, prefix=prefix) for _ in range(2)]
    args = {"htm": "GET", "htu": "https://api.test/x", "now": NOW, "access_token": None}
    await verify_proof(proof, nonce=None, replay=instances[0], **args)  # type: ignore[arg-type]
    with pytest.raises(InvalidDPoPProof) as caught:
        await verify_proof(proof, nonce=None, replay=instances[1], **args)  # type: ignore[arg-type]
    assert caught.value.reason == "replayed"
