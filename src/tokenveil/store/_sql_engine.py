"""Engines and schema for the SQL store: which URLs are accepted, how each database is tuned, and
how the tables come to exist when several processes start at once.

Upgrades are additive: a database made by an earlier version gets the tables and the columns
(``_sql_schema.ADDED_COLUMNS``) it lacks, with their server defaults, when it is next opened.
SQLite connections run with ``secure_delete`` on, so an erased user's bytes do not linger in
freed pages of the file.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import Table, event, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateSchema, CreateTable

from tokenveil.errors import ConfigurationError, StoreError
from tokenveil.store import _sql_schema as t

__all__ = ["Dialect", "EngineOptions", "checkpoint_sqlite", "create_engine", "ensure_schema"]

Dialect = Literal["sqlite", "postgresql"]

#: Serializes schema creation between processes opening one PostgreSQL database at once.
_SCHEMA_LOCK_KEY: Final = zlib.crc32(b"tokenveil.store.schema")
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How to reach and tune one database; built by :meth:`from_url`, which validates."""

    url: URL
    dialect: Dialect
    schema: str | None = None
    connect_timeout: float = 5.0
    busy_timeout: float = 5.0
    pool_size: int = 5

    @classmethod
    def from_url(cls, url: str, *, schema: str | None = None, **tuning: Any) -> EngineOptions:
        parsed, dialect = _parse_url(url)
        if schema is not None and (dialect != "postgresql" or not _SCHEMA_NAME.fullmatch(schema)):
            raise ConfigurationError("schema must be a lower-case SQL name, on PostgreSQL only")
        return cls(parsed, dialect, schema, **tuning)

    def __repr__(self) -> str:
        return f"EngineOptions({self.url.render_as_string(hide_password=True)!r})"


def _parse_url(url: str) -> tuple[URL, Dialect]:
    """The async driver URL for ``url``, and which database it is. Sync drivers are refused."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        # from None: the message would echo the URL, which may hold a password.
        raise ConfigurationError("the database URL cannot be parsed") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigurationError("a SQLite store needs a file path; use memory:// for tests")
        return parsed.set(drivername="sqlite+aiosqlite"), "sqlite"
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg"), "postgresql"
    raise ConfigurationError(
        "the database URL must be sqlite+aiosqlite:///path or postgresql+asyncpg://..."
    )


def _prepare_sqlite_file(database: str) -> None:
    # The file holds password hashes and wrapped keys: owner-only, like the KEK file.
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def create_engine(opts: EngineOptions) -> AsyncEngine:
    """An engine tuned for ``opts.dialect``. Raises OSError when the SQLite file cannot be made."""
    if opts.dialect == "sqlite":
        assert opts.url.database is not None
        _prepare_sqlite_file(opts.url.database)
        engine = create_async_engine(
            opts.url,
            hide_parameters=True,
            pool_size=opts.pool_size,
            connect_args={"timeout": opts.busy_timeout},
        )
        busy_ms = int(opts.busy_timeout * 1000)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # busy_timeout: writers queue, not fail; foreign keys: SQLite leaves them off unless
            # asked, per connection. WAL is persistent, so it is set once, in ensure_schema().
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Right to erasure: deleted rows are overwritten with zeros, not left in free space.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    engine = create_async_engine(
        opts.url,
        hide_parameters=True,
        pool_size=opts.pool_size,
        pool_pre_ping=True,  # a restarted server leaves dead pooled connections behind
        pool_timeout=opts.connect_timeout,
        connect_args={
            "timeout": opts.connect_timeout,
            "command_timeout": max(opts.connect_timeout, 10.0),
        },
    )
    if opts.schema is not None:
        return engine.execution_options(schema_translate_map={None: opts.schema})
    return engine


async def ensure_schema(engine: AsyncEngine, opts: EngineOptions) -> None:
    """Create whatever is missing. Idempotent; safe when several processes run it at once."""
    if opts.dialect == "sqlite":
        await _enable_wal(engine, opts.busy_timeout)
    if await _schema_ready(engine):
        return
    async with engine.begin() as conn:
        await _create_schema(conn, opts)


async def _enable_wal(engine: AsyncEngine, busy_timeout: float) -> None:
    """Switch the file to WAL, so readers never block the writer.

    Switching needs a moment of exclusive access, and SQLite answers "locked" at once, without its
    busy handler, while another process does the same: so retry until the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout
    async with engine.connect() as conn:
        while True:
            try:
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode=WAL")).scalar()
            except sa_exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)
                continue
            if str(mode).lower() != "wal":
                raise StoreError("SQLite refused WAL mode for this file")
            return


async def checkpoint_sqlite(engine: AsyncEngine) -> None:
    """Copy the WAL into the file and truncate it, so content erased from the database is no
    longer in the WAL either. Best effort: a reader holding an old snapshot keeps the frames it
    needs until the next checkpoint."""
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def _schema_ready(engine: AsyncEngine) -> bool:
    """Whether the schema exists and is current: a few queries instead of fifteen DDL round
    trips per start.

    The state row is written last by :func:`_create_schema`, so its presence means every table
    and index before it exists too; the added columns are probed one by one after it.
    """
    query = select(t.state.c.id).where(t.state.c.id == t.STATE_ROW)
    async with engine.connect() as conn:
        try:
            if (await conn.execute(query)).first() is None:
                return False
            for table, name in t.ADDED_COLUMNS:
                await conn.execute(select(table.c[name]).limit(0))
            return True
        except (sa_exc.ProgrammingError, sa_exc.OperationalError):
            # "no such table/column": OperationalError on SQLite, ProgrammingError on PostgreSQL.
            return False


async def _create_schema(conn: AsyncConnection, opts: EngineOptions) -> None:
    if opts.dialect == "postgresql":
        # IF NOT EXISTS alone races in PostgreSQL's catalog; a transaction-scoped lock does not.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
        if opts.schema is not None:
            await conn.execute(CreateSchema(opts.schema, if_not_exists=True))
    for table in t.metadata.sorted_tables:
        await conn.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            await conn.execute(CreateIndex(index, if_not_exists=True))
    for table, name in t.ADDED_COLUMNS:
        await _add_column(conn, opts, table, name)
    row = {"id": t.STATE_ROW, "state_version": 0, "cutoff": None}
    insert_fn = pg_insert if opts.dialect == "postgresql" else sqlite_insert
    await conn.execute(insert_fn(t.state).values(row).on_conflict_do_nothing())


async def _add_column(conn: AsyncConnection, opts: EngineOptions, table: Table, name: str) -> None:
    """Add ``table.name`` to a table an earlier version created without it; no-op otherwise."""

    def present(sync_conn: Any) -> bool:
        columns = inspect(sync_conn).get_columns(table.name, schema=opts.schema)
        return any(column["name"] == name for column in columns)

    if await conn.run_sync(present):
        return
    ddl = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
    # Both names are constants of ours (the schema name is validated by _SCHEMA_NAME).
    target = table.name if opts.schema is None else f"{opts.schema}.{table.name}"
    try:
        await conn.execute(text(f"ALTER TABLE {target} ADD COLUMN {ddl}"))
    except sa_exc.OperationalError as exc:
        # SQLite, two processes upgrading one file at once: the other one added it first.
        # (PostgreSQL cannot get here: the advisory lock above serializes the upgrade.)
        if "duplicate column" not in str(exc.orig):
            raise
