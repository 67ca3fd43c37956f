"""The SQL schema, one SQLAlchemy Core table per stored kind. Shared by SQLite and PostgreSQL.

Names carry a ``tv_`` prefix so tokenveil can live in an application's existing database.
Times are Unix seconds in double precision. What is stored is chosen so that a stolen database
file gives nothing usable away: refresh tokens appear only as SHA-256 hashes
(``tv_refresh_tokens.token_hash``), private keys only as the caller's AES-GCM blob
(``tv_keys.private_blob``), passwords only as argon2id hashes, client secrets only as SHA-256
hashes (or argon2id, from earlier versions).

A column added after its table was first released is listed in :data:`ADDED_COLUMNS`, with a
server default, so ``ensure_schema`` can add it to a database made by an earlier version.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

__all__ = [
    "ADDED_COLUMNS",
    "STATE_ROW",
    "clients",
    "events",
    "families",
    "keys",
    "metadata",
    "revoked_jtis",
    "state",
    "tokens",
    "users",
]

metadata = MetaData()

#: The single row of ``tv_state``.
STATE_ROW = 1

users = Table(
    "tv_users",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("username", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("email", String(320), nullable=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

clients = Table(
    "tv_clients",
    metadata,
    Column("client_id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", Text, nullable=True),
    Column("scopes", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("dpop_bound", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    # Added in 0.2 (RFC 7662 introspection permission); see ADDED_COLUMNS.
    Column("may_introspect", Boolean, nullable=False, server_default=false()),
)

keys = Table(
    "tv_keys",
    metadata,
    Column("kid", String(200), primary_key=True),
    Column("alg", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    # Already encrypted by the key ring (invariant 5): the store never sees a private key.
    Column("private_blob", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("activated_at", Double, nullable=True),
    Column("retired_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
    Column("not_after", Double, nullable=True),
)

families = Table(
    "tv_refresh_families",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("sub", String(200), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("scope", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=True),
    Column("revoke_reason", String(200), nullable=True),
    Column("dpop_jkt", String(200), nullable=True),
    Column("suspect", Boolean, nullable=False),
    Index("tv_refresh_families_sub", "sub"),
    Index("tv_refresh_families_expires_at", "expires_at"),
)

tokens = Table(
    "tv_refresh_tokens",
    metadata,
    # RFC 9700 §4.14 and invariant 4: only the SHA-256 of the opaque token is ever stored.
    Column("token_hash", String(128), primary_key=True),
    Column(
        "family_id",
        String(200),
        ForeignKey("tv_refresh_families.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", Double, nullable=False),
    Column("idle_expires_at", Double, nullable=False),
    Column("consumed_at", Double, nullable=True),
    Index("tv_refresh_tokens_family_id", "family_id"),
)

revoked_jtis = Table(
    "tv_revoked_jtis",
    metadata,
    Column("jti", String(200), primary_key=True),
    Column("expires_at", Double, nullable=False),
    Index("tv_revoked_jtis_expires_at", "expires_at"),
)

state = Table(
    "tv_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("state_version", BigInteger, nullable=False),
    Column("cutoff", Double, nullable=True),
)

events = Table(
    "tv_security_events",
    metadata,
    # BIGSERIAL on PostgreSQL (an audit trail outlives 2^31 rows); plain INTEGER on SQLite,
    # where only that exact type makes the column the auto-numbered rowid.
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("kind", String(100), nullable=False),
    Column("at", Double, nullable=False),
    Column("details", JSON, nullable=False),
    Index("tv_security_events_kind_at", "kind", "at"),
    Index("tv_security_events_at", "at"),
)

#: Columns that databases made by earlier versions lack, as (table, column name): each has a
#: server default, so ``ALTER TABLE ... ADD COLUMN`` fills existing rows.
ADDED_COLUMNS: tuple[tuple[Table, str], ...] = ((clients, "may_introspect"),)
