"""A database made by an earlier version opens, gains the columns it lacks and keeps its rows."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import pytest

from tokenveil.store import Client
from tokenveil.store.sql import SqlStore

LEGACY = Client(
    client_id="reporting",
    secret_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    grant_types=("client_credentials",),
    created_at=1.0,
)


async def _drop_column(store: SqlStore, table: str) -> None:
    """Make the database look as an earlier version left it."""
    engine = store._engine
    assert engine is not None
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN may_introspect")


async def _reopen_and_check(url: str, schema: str | None) -> None:
    async with SqlStore(url, schema=schema) as store:
        found = await store.get_client("reporting")
        assert found == LEGACY
        assert found is not None
        assert found.may_introspect is False
        granted = dataclasses.replace(LEGACY, may_introspect=True)
        assert await store.update_client(granted) is True
        assert await store.get_client("reporting") == granted
    # Opening an upgraded database again is a no-op.
    async with SqlStore(url, schema=schema) as store:
        assert (await store.get_client("reporting")) == granted


async def test_sqlite_file_from_before_may_introspect_is_upgraded(tmp_path: Path) -> None:
    """An existing SQLite data dir keeps its clients; the new column defaults to False."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    async with SqlStore(url) as store:
        await store.add_client(LEGACY)
        await _drop_column(store, "tv_clients")
    await _reopen_and_check(url, None)


@pytest.mark.postgres
async def test_postgres_schema_from_before_may_introspect_is_upgraded(postgres_url: str) -> None:
    """The same on PostgreSQL, in a schema of its own."""
    schema = f"old_{secrets.token_hex(4)}"
    async with SqlStore(postgres_url, schema=schema) as store:
        await store.add_client(LEGACY)
        await _drop_column(store, f"{schema}.tv_clients")
    await _reopen_and_check(postgres_url, schema)
