"""Redis fixtures: a client on the shared local Redis and a key prefix unique to each test.

The ``redis_url`` fixture of ``tests/conftest.py`` skips locally when Redis is down and fails
when ``CI=true``. Keys under the test's prefix are deleted afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tokenveil.store.redis import Redis, connect


@pytest.fixture
def prefix(redis_namespace: str) -> str:
    return f"{redis_namespace}{secrets.token_hex(4)}:"


@pytest.fixture
async def client(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    conn = connect(redis_url)
    try:
        yield conn
    finally:
        keys = [key async for key in conn.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await conn.delete(*keys)
        await conn.aclose()


@pytest.fixture
def closed_url() -> str:
    """A Redis URL on a port where nothing listens."""
    from tests.conftest import free_port

    return f"redis://127.0.0.1:{free_port()}/0"
