"""Shared fixtures: backend services (PostgreSQL, Redis) and a ``store`` over every backend.

A backend service that does not answer on 127.0.0.1 skips its tests locally, and fails them when
``CI=true``: in CI a silent skip would hide that the backend code never ran.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tokenveil.store import MemoryStore, Store, open_store

T = TypeVar("T")

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_service(name: str, host: str, port: int) -> None:
    if _answers(host, port):
        return
    message = f"{name} does not answer on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; backend tests must run in CI", pytrace=False)
    pytest.skip(f"{message} (start it to run these tests)")


def run_in_fresh_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread.

    Sync fixtures use this so they never disturb the event loop pytest-asyncio gives the test.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def _admin_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL to a fresh PostgreSQL database of this test session, dropped afterwards."""
    _require_service("PostgreSQL", PG_HOST, PG_PORT)
    # A random name keeps parallel runs (two engineers, CI jobs) from seeing each other's rows.
    name = f"tokenveil_test_{secrets.token_hex(6)}"
    run_in_fresh_loop(lambda: _admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        run_in_fresh_loop(lambda: _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of the local Redis; pair it with ``redis_namespace`` to keep runs apart."""
    _require_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture(scope="session")
def redis_namespace() -> str:
    """A key prefix unique to this test session, so parallel runs never share Redis keys."""
    return f"tvtest:{secrets.token_hex(6)}:"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


StoreFactory = Callable[[], Store]

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


#: The schema the PostgreSQL ``store`` fixture uses; emptied before each test.
PG_SHARED_SCHEMA = "shared"


async def _empty_shared_schema(dsn: str) -> None:
    import asyncpg

    from tokenveil.store._sql_schema import STATE_ROW, metadata

    # DELETE, not one schema per test: emptying a handful of rows takes milliseconds, while
    # creating eight tables with their indexes costs about a tenth of a second per test.
    tables = [table.name for table in reversed(metadata.sorted_tables) if table.name != "tv_state"]
    # Every name interpolated here is a constant of ours, none comes from input.
    sql = "".join(f"DELETE FROM {PG_SHARED_SCHEMA}.{name};" for name in tables)  # noqa: S608
    sql += f"UPDATE {PG_SHARED_SCHEMA}.tv_state SET state_version = 0, cutoff = NULL "  # noqa: S608
    sql += f"WHERE id = {STATE_ROW};"
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_shared_schema(postgres_url: str) -> str:
    """``postgres_url`` with the store schema created once, in schema ``PG_SHARED_SCHEMA``."""
    from tokenveil.store.sql import SqlStore

    async def create() -> None:
        async with SqlStore(postgres_url, schema=PG_SHARED_SCHEMA):
            pass

    run_in_fresh_loop(create)
    return postgres_url


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Makes unopened stores of one backend. SQL stores made by one factory share their data,
    as two processes on the same database would; memory stores never share."""
    backend: str = request.param
    if backend == "memory":
        return MemoryStore
    if backend == "sqlite":
        return lambda: open_store(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
    from tokenveil.store.sql import SqlStore

    url: str = request.getfixturevalue("postgres_shared_schema")
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    run_in_fresh_loop(lambda: _empty_shared_schema(dsn))
    return lambda: SqlStore(url, schema=PG_SHARED_SCHEMA)


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    """An opened store, parametrized over memory, SQLite (a tmp file) and PostgreSQL."""
    opened = store_factory()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
