"""Fixtures for the defence integration tests: a Redis key prefix per test, cleaned up after."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tokenveil.store.redis import connect


@pytest.fixture
async def redis_prefix(redis_url: str, redis_namespace: str) -> AsyncIterator[str]:
    """A key prefix (and invalidation channel) unique to this test; its keys deleted afterwards."""
    prefix = f"{redis_namespace}{secrets.token_hex(4)}:"
    yield prefix
    client = connect(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
