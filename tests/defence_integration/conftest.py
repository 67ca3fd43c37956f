"""Fixtures for the defence integration tests: per-test Redis prefixes and PostgreSQL databases."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import PG_HOST, PG_PORT, _admin_execute, _require_service, run_in_fresh_loop
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


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test alone (instances share it; the next test never does)."""
    _require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"tokenveil_ks_{secrets.token_hex(6)}"
    run_in_fresh_loop(lambda: _admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        run_in_fresh_loop(lambda: _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
