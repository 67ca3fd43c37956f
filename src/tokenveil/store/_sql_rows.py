"""Between the store's frozen dataclasses and SQL rows: tuples become JSON lists and back,
mappings are copied so a caller's dict never aliases what was stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenveil.store._protocols import (
    Client,
    RefreshFamily,
    RefreshRecord,
    SecurityEvent,
    StoredKey,
    User,
)

__all__ = [
    "client_from_row",
    "client_values",
    "event_from_row",
    "family_from_row",
    "family_values",
    "key_from_row",
    "key_values",
    "record_from_row",
    "record_values",
    "user_from_row",
    "user_values",
]

Row = Mapping[Any, Any]


def key_values(key: StoredKey) -> dict[str, Any]:
    return {
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


def key_from_row(m: Row) -> StoredKey:
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


def user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "password_hash": user.password_hash,
        "email": user.email,
        "scopes": list(user.scopes),
        "created_at": user.created_at,
        "disabled": user.disabled,
    }


def user_from_row(m: Row) -> User:
    return User(
        id=m["id"],
        username=m["username"],
        password_hash=m["password_hash"],
        email=m["email"],
        scopes=tuple(m["scopes"]),
        created_at=m["created_at"],
        disabled=bool(m["disabled"]),
    )


def client_values(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "secret_hash": client.secret_hash,
        "scopes": list(client.scopes),
        "grant_types": list(client.grant_types),
        "dpop_bound": client.dpop_bound,
        "created_at": client.created_at,
        "may_introspect": client.may_introspect,
    }


def client_from_row(m: Row) -> Client:
    return Client(
        client_id=m["client_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        scopes=tuple(m["scopes"]),
        grant_types=tuple(m["grant_types"]),
        dpop_bound=bool(m["dpop_bound"]),
        created_at=m["created_at"],
        may_introspect=bool(m["may_introspect"]),
    )


def family_values(family: RefreshFamily) -> dict[str, Any]:
    return {
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


def family_from_row(m: Row, prefix: str = "") -> RefreshFamily:
    """``prefix`` reads the columns of a join where the family's are labelled ``f_id`` etc."""
    return RefreshFamily(
        id=m[prefix + "id"],
        sub=m[prefix + "sub"],
        client_id=m[prefix + "client_id"],
        scope=tuple(m[prefix + "scope"]),
        created_at=m[prefix + "created_at"],
        expires_at=m[prefix + "expires_at"],
        revoked_at=m[prefix + "revoked_at"],
        revoke_reason=m[prefix + "revoke_reason"],
        dpop_jkt=m[prefix + "dpop_jkt"],
        suspect=bool(m[prefix + "suspect"]),
    )


def record_values(record: RefreshRecord) -> dict[str, Any]:
    return {
        "token_hash": record.token_hash,
        "family_id": record.family_id,
        "created_at": record.created_at,
        "idle_expires_at": record.idle_expires_at,
        "consumed_at": record.consumed_at,
    }


def record_from_row(m: Row) -> RefreshRecord:
    return RefreshRecord(
        token_hash=m["token_hash"],
        family_id=m["family_id"],
        created_at=m["created_at"],
        idle_expires_at=m["idle_expires_at"],
        consumed_at=m["consumed_at"],
    )


def event_from_row(m: Row) -> SecurityEvent:
    return SecurityEvent(kind=m["kind"], at=m["at"], details=dict(m["details"]), id=int(m["id"]))
