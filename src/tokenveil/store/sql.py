"""The SQL store: SQLAlchemy 2 Core over SQLite (aiosqlite, the default) or PostgreSQL (asyncpg).

Atomicity lives in the database, not in the process, so several processes may share one database:
``consume`` is a conditional ``UPDATE ... WHERE consumed_at IS NULL`` (exactly one caller sees one
row changed), revocations are conditional updates, and the state version is incremented in SQL.

Every driver or connection failure is translated here, at the boundary, into
:class:`~tokenveil.errors.StoreUnavailable`; a unique or foreign-key violation into
:class:`~tokenveil.errors.StoreError`. Statement parameters are hidden from SQLAlchemy's messages
(``hide_parameters``) and constraint violations are not chained, because PostgreSQL echoes the
offending key value (a username, say) in its error detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from sqlalchemy import Update, and_, case, delete, event, insert, or_, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Row, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable

from tokenveil.errors import ConfigurationError, StoreError, StoreUnavailable
from tokenveil.store import _sql_schema as t
from tokenveil.store._protocols import (
    Client,
    ConsumeResult,
    RefreshFamily,
    RefreshRecord,
    SecurityEvent,
    StoredKey,
    User,
)

__all__ = ["SqlStore"]

Dialect = Literal["sqlite", "postgresql"]

#: Serializes schema creation between processes opening one PostgreSQL database at once.
_SCHEMA_LOCK_KEY: Final = zlib.crc32(b"tokenveil.store.schema")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: SQLSTATE classes meaning "the server is not there for you": connection exception, invalid
#: authorization, invalid catalog (no such database), insufficient resources, operator
#: intervention (shutdown), system error.
_UNAVAILABLE_SQLSTATE_CLASSES: Final = frozenset({"08", "28", "3D", "53", "57", "58"})

try:  # asyncpg raises its own errors while connecting, before SQLAlchemy can wrap them.
    import asyncpg

    _DRIVER_ERRORS: tuple[type[BaseException], ...] = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    )
except ImportError:  # pragma: no cover - the postgres extra is optional
    _DRIVER_ERRORS = ()

_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    *_DRIVER_ERRORS,
)

_TRANSLATED: tuple[type[BaseException], ...] = (sa_exc.SQLAlchemyError, *_UNAVAILABLE_ERRORS)


def _parse_url(url: str) -> tuple[URL, Dialect]:
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


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(code, str) and code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    return False


@contextlib.contextmanager
def _boundary(conflict: str = "the record conflicts with a stored one") -> Iterator[None]:
    """Translate every database failure inside the block into the tokenveil error tree."""
    try:
        yield
    except sa_exc.IntegrityError:
        # Not chained: PostgreSQL's DETAIL names the conflicting value (invariant 6).
        raise StoreError(conflict) from None
    except _TRANSLATED as exc:
        if _is_unavailable(exc):
            raise StoreUnavailable("the database is unavailable") from exc
        raise StoreError("the database refused the operation") from exc


def _prepare_sqlite_file(database: str) -> None:
    # The file holds password hashes and wrapped keys: owner-only, like the KEK file.
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class SqlStore:
    """Every ``Store`` Protocol on one SQL database, safe to share between processes.

    ``schema`` (PostgreSQL only) keeps the tables in a schema of their own, created when missing.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        connect_timeout: float = 5.0,
        busy_timeout: float = 5.0,
        pool_size: int = 5,
    ) -> None:
        self._url, self._dialect = _parse_url(url)
        if schema is not None and (
            self._dialect != "postgresql" or not _SCHEMA_NAME.fullmatch(schema)
        ):
            raise ConfigurationError("schema must be a lower-case SQL name, on PostgreSQL only")
        self._schema = schema
        self._connect_timeout = connect_timeout
        self._busy_timeout = busy_timeout
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None

    def __repr__(self) -> str:
        return f"SqlStore({self._url.render_as_string(hide_password=True)!r})"

    async def __aenter__(self) -> SqlStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create the schema when missing. Idempotent, and safe when two processes
        open the same database at once."""
        if self._engine is not None:
            return
        engine = self._create_engine()
        try:
            with _boundary():
                if self._dialect == "sqlite":
                    await self._enable_wal(engine)
                if not await self._schema_ready(engine):
                    async with engine.begin() as conn:
                        await self._create_schema(conn)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    def _create_engine(self) -> AsyncEngine:
        options: dict[str, Any] = {}
        if self._schema is not None:
            options["schema_translate_map"] = {None: self._schema}
        if self._dialect == "sqlite":
            assert self._url.database is not None
            with _boundary():
                _prepare_sqlite_file(self._url.database)
            engine = create_async_engine(
                self._url,
                hide_parameters=True,
                pool_size=self._pool_size,
                connect_args={"timeout": self._busy_timeout},
            )
            busy_ms = int(self._busy_timeout * 1000)

            @event.listens_for(engine.sync_engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                # busy_timeout: writers queue, not fail; foreign keys: SQLite leaves them off
                # unless asked, per connection. WAL is set once per file, in _enable_wal().
                cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        else:
            engine = create_async_engine(
                self._url,
                hide_parameters=True,
                pool_size=self._pool_size,
                pool_pre_ping=True,  # a restarted server leaves dead pooled connections
                pool_timeout=self._connect_timeout,
                connect_args={
                    "timeout": self._connect_timeout,
                    "command_timeout": max(self._connect_timeout, 10.0),
                },
            )
        return engine.execution_options(**options) if options else engine

    async def _enable_wal(self, engine: AsyncEngine) -> None:
        """Switch the file to WAL, so readers never block the writer. The mode is persistent.

        Switching needs a moment of exclusive access and SQLite answers "locked" at once, without
        its busy handler, while another process does the same: so retry until busy_timeout.
        """
        deadline = time.monotonic() + self._busy_timeout
        async with engine.connect() as conn:
            while True:
                try:
                    mode = (await conn.exec_driver_sql("PRAGMA journal_mode=WAL")).scalar()
                except sa_exc.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.02)
                    continue
                if str(mode).lower() == "wal":
                    return
                raise StoreError("SQLite refused WAL mode for this file")

    async def _schema_ready(self, engine: AsyncEngine) -> bool:
        """Whether the schema exists: one query instead of fifteen DDL round trips per start.

        The state row is written last by :meth:`_create_schema`, so its presence means every
        table and index before it exists too.
        """
        query = select(t.state.c.id).where(t.state.c.id == t.STATE_ROW)
        async with engine.connect() as conn:
            try:
                return (await conn.execute(query)).first() is not None
            except (sa_exc.ProgrammingError, sa_exc.OperationalError):
                # "no such table" (SQLite is OperationalError, PostgreSQL ProgrammingError).
                return False

    async def _create_schema(self, conn: AsyncConnection) -> None:
        if self._dialect == "postgresql":
            # IF NOT EXISTS alone races in PostgreSQL's catalog; a transaction lock does not.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            if self._schema is not None:
                await conn.execute(CreateSchema(self._schema, if_not_exists=True))
        for table in t.metadata.sorted_tables:
            await conn.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                await conn.execute(CreateIndex(index, if_not_exists=True))
        row = {"id": t.STATE_ROW, "state_version": 0, "cutoff": None}
        insert_fn = pg_insert if self._dialect == "postgresql" else sqlite_insert
        await conn.execute(insert_fn(t.state).values(row).on_conflict_do_nothing())

    @contextlib.asynccontextmanager
    async def _begin(self, conflict: str | None = None) -> AsyncIterator[AsyncConnection]:
        """One transaction, with errors translated."""
        if self._engine is None:
            raise StoreError("the store is not open")
        with _boundary(*(() if conflict is None else (conflict,))):
            async with self._engine.begin() as conn:
                yield conn

    @staticmethod
    def _bump() -> Update:
        return (
            update(t.state)
            .where(t.state.c.id == t.STATE_ROW)
            .values(state_version=t.state.c.state_version + 1)
        )

    # -- keys --------------------------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        query = select(t.keys).order_by(t.keys.c.created_at, t.keys.c.kid)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [_key(row) for row in rows]

    async def put_key(self, key: StoredKey) -> None:
        values = {
            "kid": key.kid,
            "alg": key.alg,
            "state": key.state,
            "public_jwk": dict(key.public_jwk),
            "private_blob": bytes(key.private_blob),
            "created_at": key.created_at,
            "activated_at": key.activated_at,
            "retired_at": key.retired_at,
            "revoked_at": key.revoked_at,
            "not_after": key.not_after,
        }
        insert_fn = pg_insert if self._dialect == "postgresql" else sqlite_insert
        stmt = insert_fn(t.keys).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.keys.c.kid],
            set_={name: stmt.excluded[name] for name in values if name != "kid"},
        )
        async with self._begin() as conn:
            await conn.execute(stmt)
            await conn.execute(self._bump())

    async def delete_key(self, kid: str) -> None:
        async with self._begin() as conn:
            result = await conn.execute(delete(t.keys).where(t.keys.c.kid == kid))
            if result.rowcount:
                await conn.execute(self._bump())

    # -- users and clients -------------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        values = {
            "id": user.id,
            "username": user.username,
            "password_hash": user.password_hash,
            "email": user.email,
            "scopes": list(user.scopes),
            "created_at": user.created_at,
            "disabled": user.disabled,
        }
        async with self._begin("the user id or username is already taken") as conn:
            await conn.execute(insert(t.users).values(values))

    async def get_user(self, user_id: str) -> User | None:
        return await self._one_user(t.users.c.id == user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return await self._one_user(t.users.c.username == username)

    async def _one_user(self, condition: Any) -> User | None:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.users).where(condition))).first()
        return None if row is None else _user(row)

    async def list_users(self) -> list[User]:
        query = select(t.users).order_by(t.users.c.created_at, t.users.c.id)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [_user(row) for row in rows]

    async def add_client(self, client: Client) -> None:
        values = {
            "client_id": client.client_id,
            "name": client.name,
            "secret_hash": client.secret_hash,
            "scopes": list(client.scopes),
            "grant_types": list(client.grant_types),
            "dpop_bound": client.dpop_bound,
            "created_at": client.created_at,
        }
        async with self._begin("the client id is already taken") as conn:
            await conn.execute(insert(t.clients).values(values))

    async def get_client(self, client_id: str) -> Client | None:
        query = select(t.clients).where(t.clients.c.client_id == client_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _client(row)

    async def list_clients(self) -> list[Client]:
        query = select(t.clients).order_by(t.clients.c.created_at, t.clients.c.client_id)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [_client(row) for row in rows]

    # -- refresh families --------------------------------------------------------------------

    async def create_family(self, family: RefreshFamily, first: RefreshRecord) -> None:
        if first.family_id != family.id:
            raise StoreError("the first refresh token belongs to another family")
        values = {
            "id": family.id,
            "sub": family.sub,
            "client_id": family.client_id,
            "scope": list(family.scope),
            "created_at": family.created_at,
            "expires_at": family.expires_at,
            "revoked_at": family.revoked_at,
            "revoke_reason": family.revoke_reason,
            "dpop_jkt": family.dpop_jkt,
            "suspect": family.suspect,
        }
        async with self._begin("the refresh family or token already exists") as conn:
            await conn.execute(insert(t.families).values(values))
            await conn.execute(insert(t.tokens).values(_record_values(first)))

    async def add_token(self, record: RefreshRecord) -> None:
        conflict = "the refresh token already exists or its family does not"
        async with self._begin(conflict) as conn:
            await conn.execute(insert(t.tokens).values(_record_values(record)))

    async def consume(self, token_hash: str, now: float) -> ConsumeResult:
        # RFC 9700 §4.14: the conditional UPDATE is the whole race; the database serializes it,
        # across processes too, and exactly one caller sees rowcount 1.
        mark = (
            update(t.tokens)
            .where(t.tokens.c.token_hash == token_hash, t.tokens.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        family_cols = [c.label(f"f_{c.name}") for c in t.families.c]
        fetch = (
            select(t.tokens, *family_cols)
            .select_from(t.tokens.outerjoin(t.families, t.tokens.c.family_id == t.families.c.id))
            .where(t.tokens.c.token_hash == token_hash)
        )
        async with self._begin() as conn:
            won = (await conn.execute(mark)).rowcount == 1
            row = (await conn.execute(fetch)).first()
        if row is None:
            return ConsumeResult("unknown")
        m = row._mapping
        family = (
            None if m["f_id"] is None else _family({c.name: m[f"f_{c.name}"] for c in t.families.c})
        )
        return ConsumeResult("ok" if won else "reused", _record(m), family)

    async def get_family(self, family_id: str) -> RefreshFamily | None:
        query = select(t.families).where(t.families.c.id == family_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _family(row._mapping)

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        # The first reason is the evidence (e.g. "reuse"); a later kill switch must not hide it.
        stmt = (
            update(t.families)
            .where(t.families.c.id == family_id, t.families.c.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def revoke_families(
        self, now: float, reason: str, *, sub: str | None = None, only_suspect: bool = False
    ) -> int:
        conditions = [t.families.c.revoked_at.is_(None), t.families.c.expires_at > now]
        if sub is not None:
            conditions.append(t.families.c.sub == sub)
        if only_suspect:
            conditions.append(t.families.c.suspect.is_(True))
        stmt = (
            update(t.families).where(and_(*conditions)).values(revoked_at=now, revoke_reason=reason)
        )
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount

    async def mark_suspect(self, family_id: str) -> None:
        stmt = update(t.families).where(t.families.c.id == family_id).values(suspect=True)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def list_families(self, sub: str | None = None) -> list[RefreshFamily]:
        query = select(t.families).order_by(t.families.c.created_at, t.families.c.id)
        if sub is not None:
            query = query.where(t.families.c.sub == sub)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [_family(row._mapping) for row in rows]

    async def purge_expired(self, now: float) -> int:
        dead_families = select(t.families.c.id).where(t.families.c.expires_at <= now)
        # Consumed tokens of a live family stay: they are what reveals a later replay.
        dead_tokens = delete(t.tokens).where(
            or_(
                t.tokens.c.family_id.in_(dead_families),
                and_(t.tokens.c.consumed_at.is_(None), t.tokens.c.idle_expires_at <= now),
            )
        )
        async with self._begin() as conn:
            count = (await conn.execute(dead_tokens)).rowcount
            count += (
                await conn.execute(delete(t.families).where(t.families.c.expires_at <= now))
            ).rowcount
            count += (
                await conn.execute(delete(t.revoked_jtis).where(t.revoked_jtis.c.expires_at <= now))
            ).rowcount
        return count

    # -- revocation and state ----------------------------------------------------------------

    async def revoke_jti(self, jti: str, expires_at: float) -> None:
        insert_fn = pg_insert if self._dialect == "postgresql" else sqlite_insert
        stmt = insert_fn(t.revoked_jtis).values(jti=jti, expires_at=expires_at)
        current = t.revoked_jtis.c.expires_at
        # Keep the later expiry: revoking twice must never shorten a revocation.
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.revoked_jtis.c.jti],
            set_={"expires_at": _greatest(current, stmt.excluded.expires_at)},
        )
        async with self._begin() as conn:
            await conn.execute(stmt)
            await conn.execute(self._bump())

    async def revoked_jtis(self, now: float) -> set[str]:
        query = select(t.revoked_jtis.c.jti).where(t.revoked_jtis.c.expires_at > now)
        async with self._begin() as conn:
            return set((await conn.execute(query)).scalars())

    async def set_cutoff(self, cutoff: float) -> None:
        async with self._begin() as conn:
            await conn.execute(self._bump().values(cutoff=cutoff))

    async def get_cutoff(self) -> float | None:
        query = select(t.state.c.cutoff).where(t.state.c.id == t.STATE_ROW)
        async with self._begin() as conn:
            value = (await conn.execute(query)).scalar_one()
        return None if value is None else float(value)

    async def state_version(self) -> int:
        query = select(t.state.c.state_version).where(t.state.c.id == t.STATE_ROW)
        async with self._begin() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def bump_state_version(self) -> int:
        query = select(t.state.c.state_version).where(t.state.c.id == t.STATE_ROW)
        # The UPDATE takes the row (PostgreSQL) or database (SQLite) write lock first, so the
        # read that follows in the same transaction sees this bump and no other.
        async with self._begin() as conn:
            await conn.execute(self._bump())
            return int((await conn.execute(query)).scalar_one())

    # -- audit -------------------------------------------------------------------------------

    async def record_event(self, event: SecurityEvent) -> None:
        stmt = insert(t.events).values(kind=event.kind, at=event.at, details=dict(event.details))
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def list_events(self, kind: str | None = None, limit: int = 100) -> list[SecurityEvent]:
        query = (
            select(t.events)
            .order_by(t.events.c.at.desc(), t.events.c.id.desc())
            .limit(max(limit, 0))
        )
        if kind is not None:
            query = query.where(t.events.c.kind == kind)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [
            SecurityEvent(kind=r.kind, at=r.at, details=dict(r.details), id=int(r.id)) for r in rows
        ]


def _greatest(a: Any, b: Any) -> Any:
    # GREATEST() is PostgreSQL-only and SQLite's two-argument max() is not in PostgreSQL.
    return case((b > a, b), else_=a)


def _record_values(record: RefreshRecord) -> dict[str, Any]:
    return {
        "token_hash": record.token_hash,
        "family_id": record.family_id,
        "created_at": record.created_at,
        "idle_expires_at": record.idle_expires_at,
        "consumed_at": record.consumed_at,
    }


def _key(row: Row[Any]) -> StoredKey:
    m = row._mapping
    return StoredKey(
        kid=m["kid"],
        alg=m["alg"],
        state=m["state"],
        public_jwk=dict(m["public_jwk"]),
        private_blob=bytes(m["private_blob"]),
        created_at=m["created_at"],
        activated_at=m["activated_at"],
        retired_at=m["retired_at"],
        revoked_at=m["revoked_at"],
        not_after=m["not_after"],
    )


def _user(row: Row[Any]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        username=m["username"],
        password_hash=m["password_hash"],
        email=m["email"],
        scopes=tuple(m["scopes"]),
        created_at=m["created_at"],
        disabled=bool(m["disabled"]),
    )


def _client(row: Row[Any]) -> Client:
    m = row._mapping
    return Client(
        client_id=m["client_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        scopes=tuple(m["scopes"]),
        grant_types=tuple(m["grant_types"]),
        dpop_bound=bool(m["dpop_bound"]),
        created_at=m["created_at"],
    )


def _family(m: Mapping[Any, Any]) -> RefreshFamily:
    return RefreshFamily(
        id=m["id"],
        sub=m["sub"],
        client_id=m["client_id"],
        scope=tuple(m["scope"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        revoke_reason=m["revoke_reason"],
        dpop_jkt=m["dpop_jkt"],
        suspect=bool(m["suspect"]),
    )


def _record(m: Mapping[Any, Any]) -> RefreshRecord:
    return RefreshRecord(
        token_hash=m["token_hash"],
        family_id=m["family_id"],
        created_at=m["created_at"],
        idle_expires_at=m["idle_expires_at"],
        consumed_at=m["consumed_at"],
    )
