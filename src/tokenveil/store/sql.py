"""The SQL store: SQLAlchemy 2 Core over SQLite (aiosqlite, the default) or PostgreSQL (asyncpg).

Atomicity lives in the database, not in the process, so several processes may share one database:
``consume`` is a conditional ``UPDATE ... WHERE consumed_at IS NULL`` (exactly one caller sees one
row changed), revocations are conditional updates, and the state version is incremented in SQL in
the same transaction as the change it announces.

Every driver or connection failure becomes :class:`~tokenveil.errors.StoreUnavailable` and a
constraint violation :class:`~tokenveil.errors.StoreError` (see ``_sql_errors``); nothing here
logs. Engine tuning and schema creation live in ``_sql_engine``, the tables in ``_sql_schema``.

Erasure (``delete_user``) deletes the row and revokes the user's families in one transaction; on
SQLite, ``secure_delete`` zeroes the freed bytes and a WAL checkpoint follows, so the file keeps
no copy. PostgreSQL keeps a deleted row's bytes as a dead tuple until ``VACUUM`` reuses the space.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from sqlalchemy import Update, and_, case, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tokenveil.errors import StoreError
from tokenveil.store import _sql_rows as rows
from tokenveil.store import _sql_schema as t
from tokenveil.store._protocols import (
    Client,
    ConsumeResult,
    RefreshFamily,
    RefreshRecord,
    SecurityEvent,
    StoredKey,
    User,
    token_live,
    valid_client_id,
)
from tokenveil.store._sql_engine import (
    EngineOptions,
    checkpoint_sqlite,
    create_engine,
    ensure_schema,
)
from tokenveil.store._sql_errors import boundary

__all__ = ["SqlStore"]


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
        self._opts = EngineOptions.from_url(
            url,
            schema=schema,
            connect_timeout=connect_timeout,
            busy_timeout=busy_timeout,
            pool_size=pool_size,
        )
        self._engine: AsyncEngine | None = None

    def __repr__(self) -> str:
        return f"SqlStore({self._opts.url.render_as_string(hide_password=True)!r})"

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
        """Connect and create the schema when missing. Idempotent, and safe when several
        processes open the same database at once."""
        if self._engine is not None:
            return
        with boundary():
            engine = create_engine(self._opts)
        try:
            with boundary():
                await ensure_schema(engine, self._opts)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    @property
    def _upsert(self) -> Any:
        return pg_insert if self._opts.dialect == "postgresql" else sqlite_insert

    @contextlib.asynccontextmanager
    async def _begin(
        self, conflict: str = "the record conflicts with a stored one"
    ) -> AsyncIterator[AsyncConnection]:
        """One transaction, with errors translated; ``conflict`` names what a violation means."""
        if self._engine is None:
            raise StoreError("the store is not open")
        with boundary(conflict):
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
            found = (await conn.execute(query)).all()
        return [rows.key_from_row(r._mapping) for r in found]

    async def put_key(self, key: StoredKey) -> None:
        values = rows.key_values(key)
        stmt = self._upsert(t.keys).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.keys.c.kid],
            set_={name: stmt.excluded[name] for name in values if name != "kid"},
            # Revoked is terminal: an instance writing back a key it read before the revocation
            # (a concurrent scheduled rotation, say) must not bring the key back to life.
            where=t.keys.c.state != "revoked",
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
        values = rows.user_values(user)
        async with self._begin("the user id or username is already taken") as conn:
            await conn.execute(insert(t.users).values(values))

    async def get_user(self, user_id: str) -> User | None:
        return await self._one_user(t.users.c.id == user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return await self._one_user(t.users.c.username == username)

    async def _one_user(self, condition: Any) -> User | None:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.users).where(condition))).first()
        return None if row is None else rows.user_from_row(row._mapping)

    async def list_users(self) -> list[User]:
        query = select(t.users).order_by(t.users.c.created_at, t.users.c.id)
        async with self._begin() as conn:
            found = (await conn.execute(query)).all()
        return [rows.user_from_row(r._mapping) for r in found]

    async def update_user(self, user: User) -> bool:
        values = rows.user_values(user)
        del values["id"]
        stmt = update(t.users).where(t.users.c.id == user.id).values(values)
        async with self._begin("the username is already taken") as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def delete_user(self, user_id: str, now: float) -> bool:
        async with self._begin() as conn:
            await conn.execute(self._revoke_live(now, "user_deleted", t.families.c.sub == user_id))
            deleted = (await conn.execute(delete(t.users).where(t.users.c.id == user_id))).rowcount
        if deleted and self._opts.dialect == "sqlite" and self._engine is not None:
            with boundary():
                await checkpoint_sqlite(self._engine)
        return deleted == 1

    async def add_client(self, client: Client) -> None:
        if not valid_client_id(client.client_id):
            raise StoreError("the client id is not a valid client id")
        values = rows.client_values(client)
        async with self._begin("the client id is already taken") as conn:
            await conn.execute(insert(t.clients).values(values))

    async def update_client(self, client: Client) -> bool:
        values = rows.client_values(client)
        del values["client_id"]
        stmt = update(t.clients).where(t.clients.c.client_id == client.client_id).values(values)
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def replace_client_secret(self, client_id: str, old_hash: str, new_hash: str) -> bool:
        # One conditional UPDATE: a concurrent update_client that changed the hash wins.
        stmt = (
            update(t.clients)
            .where(t.clients.c.client_id == client_id, t.clients.c.secret_hash == old_hash)
            .values(secret_hash=new_hash)
        )
        async with self._begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def delete_client(self, client_id: str, now: float) -> bool:
        condition = t.families.c.client_id == client_id
        async with self._begin() as conn:
            await conn.execute(self._revoke_live(now, "client_deleted", condition))
            stmt = delete(t.clients).where(t.clients.c.client_id == client_id)
            return (await conn.execute(stmt)).rowcount == 1

    async def get_client(self, client_id: str) -> Client | None:
        query = select(t.clients).where(t.clients.c.client_id == client_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else rows.client_from_row(row._mapping)

    async def list_clients(self) -> list[Client]:
        query = select(t.clients).order_by(t.clients.c.created_at, t.clients.c.client_id)
        async with self._begin() as conn:
            found = (await conn.execute(query)).all()
        return [rows.client_from_row(r._mapping) for r in found]

    # -- refresh families --------------------------------------------------------------------

    async def create_family(self, family: RefreshFamily, first: RefreshRecord) -> None:
        if first.family_id != family.id:
            raise StoreError("the first refresh token belongs to another family")
        values = rows.family_values(family)
        async with self._begin("the refresh family or token already exists") as conn:
            await conn.execute(insert(t.families).values(values))
            await conn.execute(insert(t.tokens).values(rows.record_values(first)))

    async def add_token(self, record: RefreshRecord) -> None:
        conflict = "the refresh token already exists or its family does not"
        async with self._begin(conflict) as conn:
            await conn.execute(insert(t.tokens).values(rows.record_values(record)))

    async def consume(self, token_hash: str, now: float) -> ConsumeResult:
        # RFC 9700 §4.14: the conditional UPDATE is the whole race; the database serializes it,
        # across processes too, and exactly one caller sees rowcount 1.
        async with self._begin() as conn:
            won = await self._mark_consumed(conn, token_hash, now)
            found = await self._token_with_family(conn, token_hash)
        if found is None:
            return ConsumeResult("unknown")
        record, family = found
        return ConsumeResult("ok" if won else "reused", record, family)

    async def rotate(self, token_hash: str, successor: RefreshRecord, now: float) -> ConsumeResult:
        # The consume of ``consume`` and the successor's INSERT share one transaction: a failed
        # or refused INSERT rolls the consume back, so the token is never burnt alone.
        async with self._begin("the successor refresh token already exists") as conn:
            won = await self._mark_consumed(conn, token_hash, now)
            found = await self._token_with_family(conn, token_hash)
            if found is None:
                return ConsumeResult("unknown")
            record, family = found
            if not won:
                return ConsumeResult("reused", record, family)
            if successor.family_id != record.family_id:
                raise StoreError("the successor belongs to another refresh family")
            if family is not None and token_live(family, record, now):
                await conn.execute(insert(t.tokens).values(rows.record_values(successor)))
        return ConsumeResult("ok", record, family)

    @staticmethod
    async def _mark_consumed(conn: AsyncConnection, token_hash: str, now: float) -> bool:
        """Consume the token if nobody has: True for the one caller that did."""
        mark = (
            update(t.tokens)
            .where(t.tokens.c.token_hash == token_hash, t.tokens.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        return (await conn.execute(mark)).rowcount == 1

    @staticmethod
    async def _token_with_family(
        conn: AsyncConnection, token_hash: str
    ) -> tuple[RefreshRecord, RefreshFamily | None] | None:
        family_cols = [c.label(f"f_{c.name}") for c in t.families.c]
        query = (
            select(t.tokens, *family_cols)
            .select_from(t.tokens.outerjoin(t.families, t.tokens.c.family_id == t.families.c.id))
            .where(t.tokens.c.token_hash == token_hash)
        )
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        m = row._mapping
        family = None if m["f_id"] is None else rows.family_from_row(m, prefix="f_")
        return rows.record_from_row(m), family

    async def peek(self, token_hash: str) -> ConsumeResult:
        async with self._begin() as conn:
            found = await self._token_with_family(conn, token_hash)
        if found is None:
            return ConsumeResult("unknown")
        record, family = found
        return ConsumeResult("ok" if record.consumed_at is None else "reused", record, family)

    async def get_family(self, family_id: str) -> RefreshFamily | None:
        query = select(t.families).where(t.families.c.id == family_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else rows.family_from_row(row._mapping)

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
        conditions = []
        if sub is not None:
            conditions.append(t.families.c.sub == sub)
        if only_suspect:
            conditions.append(t.families.c.suspect.is_(True))
        async with self._begin() as conn:
            return (await conn.execute(self._revoke_live(now, reason, *conditions))).rowcount

    @staticmethod
    def _revoke_live(now: float, reason: str, *conditions: Any) -> Update:
        """Revoke the live (unrevoked, unexpired) families matching ``conditions``."""
        live = [t.families.c.revoked_at.is_(None), t.families.c.expires_at > now, *conditions]
        return update(t.families).where(and_(*live)).values(revoked_at=now, revoke_reason=reason)

    async def mark_suspect(self, family_id: str) -> None:
        stmt = update(t.families).where(t.families.c.id == family_id).values(suspect=True)
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def list_families(self, sub: str | None = None) -> list[RefreshFamily]:
        query = select(t.families).order_by(t.families.c.created_at, t.families.c.id)
        if sub is not None:
            query = query.where(t.families.c.sub == sub)
        async with self._begin() as conn:
            found = (await conn.execute(query)).all()
        return [rows.family_from_row(r._mapping) for r in found]

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
        stmt = self._upsert(t.revoked_jtis).values(jti=jti, expires_at=expires_at)
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
            found = (await conn.execute(query)).all()
        return [rows.event_from_row(r._mapping) for r in found]


def _greatest(a: Any, b: Any) -> Any:
    # GREATEST() is PostgreSQL-only and SQLite's two-argument max() is not in PostgreSQL.
    return case((b > a, b), else_=a)
