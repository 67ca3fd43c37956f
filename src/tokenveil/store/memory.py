"""The in-memory store: the test double every other component codes against.

It keeps the exact semantics of the SQL backends (the contract suite in ``tests/store`` runs on
all of them): consume is atomic under one :class:`asyncio.Lock`, a revoked family keeps its first
reason, events come back newest first, and every change to keys or revocations bumps the state
version. Nothing survives the process; use :class:`tokenveil.store.SqlStore` for that.

:meth:`MemoryStore.set_unavailable` lets a test watch a caller fail closed (invariant 9) without
stopping a real database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from types import TracebackType

from tokenveil.errors import StoreError, StoreUnavailable
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

__all__ = ["MemoryStore"]


class MemoryStore:
    """Every ``Store`` Protocol in process memory. Safe for concurrent tasks on one event loop."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._unavailable = False
        self._keys: dict[str, StoredKey] = {}
        self._users: dict[str, User] = {}
        self._clients: dict[str, Client] = {}
        self._families: dict[str, RefreshFamily] = {}
        self._tokens: dict[str, RefreshRecord] = {}
        self._jtis: dict[str, float] = {}
        self._cutoff: float | None = None
        self._version = 0
        self._events: list[SecurityEvent] = []

    def __repr__(self) -> str:
        # Counts only: the contents are users, hashes and keys.
        return f"MemoryStore(users={len(self._users)}, families={len(self._families)})"

    async def __aenter__(self) -> MemoryStore:
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
        self._check()

    async def close(self) -> None:
        """Nothing to release; the data stays until the object is dropped."""

    def set_unavailable(self, unavailable: bool = True) -> None:
        """Make every later call raise :class:`StoreUnavailable`, like an unreachable database."""
        self._unavailable = unavailable

    def _check(self) -> None:
        if self._unavailable:
            raise StoreUnavailable("the store is unavailable")

    # -- keys --------------------------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        self._check()
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    async def put_key(self, key: StoredKey) -> None:
        self._check()
        current = self._keys.get(key.kid)
        if current is not None and current.state == "revoked":
            return  # revoked is terminal, as in SqlStore
        # Copy the mapping so a caller mutating its dict cannot change what is stored.
        self._keys[key.kid] = dataclasses.replace(key, public_jwk=dict(key.public_jwk))
        self._version += 1

    async def delete_key(self, kid: str) -> None:
        self._check()
        if self._keys.pop(kid, None) is not None:
            self._version += 1

    # -- users and clients -------------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        self._check()
        if user.id in self._users:
            raise StoreError("a user with this id already exists")
        if any(u.username == user.username for u in self._users.values()):
            raise StoreError("the username is already taken")
        self._users[user.id] = user

    async def get_user(self, user_id: str) -> User | None:
        self._check()
        return self._users.get(user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        self._check()
        return next((u for u in self._users.values() if u.username == username), None)

    async def list_users(self) -> list[User]:
        self._check()
        return sorted(self._users.values(), key=lambda u: (u.created_at, u.id))

    async def update_user(self, user: User) -> bool:
        self._check()
        if user.id not in self._users:
            return False
        if any(u.username == user.username and u.id != user.id for u in self._users.values()):
            raise StoreError("the username is already taken")
        self._users[user.id] = user
        return True

    async def delete_user(self, user_id: str, now: float) -> bool:
        self._check()
        # No await between the two steps: on one event loop they are one atomic change.
        self._revoke_where(now, "user_deleted", lambda f: f.sub == user_id)
        return self._users.pop(user_id, None) is not None

    async def add_client(self, client: Client) -> None:
        self._check()
        if not valid_client_id(client.client_id):
            raise StoreError("the client id is not a valid client id")
        if client.client_id in self._clients:
            raise StoreError("the client id is already taken")
        self._clients[client.client_id] = client

    async def update_client(self, client: Client) -> bool:
        self._check()
        if client.client_id not in self._clients:
            return False
        self._clients[client.client_id] = client
        return True

    async def replace_client_secret(self, client_id: str, old_hash: str, new_hash: str) -> bool:
        self._check()
        async with self._lock:
            found = self._clients.get(client_id)
            if found is None or found.secret_hash != old_hash:
                return False
            self._clients[client_id] = dataclasses.replace(found, secret_hash=new_hash)
            return True

    async def delete_client(self, client_id: str, now: float) -> bool:
        self._check()
        self._revoke_where(now, "client_deleted", lambda f: f.client_id == client_id)
        return self._clients.pop(client_id, None) is not None

    async def get_client(self, client_id: str) -> Client | None:
        self._check()
        return self._clients.get(client_id)

    async def list_clients(self) -> list[Client]:
        self._check()
        return sorted(self._clients.values(), key=lambda c: (c.created_at, c.client_id))

    # -- refresh families --------------------------------------------------------------------

    async def create_family(self, family: RefreshFamily, first: RefreshRecord) -> None:
        self._check()
        if family.id in self._families:
            raise StoreError("a refresh family with this id already exists")
        if first.family_id != family.id:
            raise StoreError("the first refresh token belongs to another family")
        if first.token_hash in self._tokens:
            raise StoreError("a refresh token with this hash already exists")
        self._families[family.id] = family
        self._tokens[first.token_hash] = first

    async def add_token(self, record: RefreshRecord) -> None:
        self._check()
        if record.family_id not in self._families:
            raise StoreError("the refresh family does not exist")
        if record.token_hash in self._tokens:
            raise StoreError("a refresh token with this hash already exists")
        self._tokens[record.token_hash] = record

    def _state(self, token_hash: str) -> ConsumeResult:
        """The token as it stands: ``ok`` while unconsumed (under the lock: it may be taken)."""
        record = self._tokens.get(token_hash)
        if record is None:
            return ConsumeResult("unknown")
        family = self._families.get(record.family_id)
        return ConsumeResult("ok" if record.consumed_at is None else "reused", record, family)

    def _taken(self, found: ConsumeResult, now: float) -> ConsumeResult:
        """``found`` (an ``ok`` state) marked consumed, in the table and in the result."""
        assert found.record is not None  # an "ok" state always has its record
        record = dataclasses.replace(found.record, consumed_at=now)
        self._tokens[record.token_hash] = record
        return ConsumeResult("ok", record, found.family)

    async def consume(self, token_hash: str, now: float) -> ConsumeResult:
        self._check()
        # The lock makes check-and-set one step, as the conditional UPDATE does in SQL.
        async with self._lock:
            found = self._state(token_hash)
            return self._taken(found, now) if found.status == "ok" else found

    async def rotate(self, token_hash: str, successor: RefreshRecord, now: float) -> ConsumeResult:
        self._check()
        async with self._lock:  # one step, as the SQL transaction is
            found = self._state(token_hash)
            if found.status != "ok":
                return found
            # Every refusal before any change: the token stays unconsumed.
            assert found.record is not None
            if successor.family_id != found.record.family_id:
                raise StoreError("the successor belongs to another refresh family")
            if successor.token_hash in self._tokens:
                raise StoreError("a refresh token with this hash already exists")
            taken = self._taken(found, now)
            assert taken.record is not None
            if taken.family is not None and token_live(taken.family, taken.record, now):
                self._tokens[successor.token_hash] = successor
            return taken

    async def peek(self, token_hash: str) -> ConsumeResult:
        self._check()
        return self._state(token_hash)

    async def get_family(self, family_id: str) -> RefreshFamily | None:
        self._check()
        return self._families.get(family_id)

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        self._check()
        family = self._families.get(family_id)
        # The first reason is the evidence (e.g. "reuse"); a later kill switch must not hide it.
        if family is not None and family.revoked_at is None:
            self._families[family_id] = dataclasses.replace(
                family, revoked_at=now, revoke_reason=reason
            )

    async def revoke_families(
        self, now: float, reason: str, *, sub: str | None = None, only_suspect: bool = False
    ) -> int:
        self._check()
        return self._revoke_where(
            now,
            reason,
            lambda f: (sub is None or f.sub == sub) and (not only_suspect or f.suspect),
        )

    def _revoke_where(
        self, now: float, reason: str, selected: Callable[[RefreshFamily], bool]
    ) -> int:
        """Revoke every live family ``selected`` accepts; how many."""
        count = 0
        for family in list(self._families.values()):
            if family.revoked_at is not None or family.expires_at <= now or not selected(family):
                continue
            self._families[family.id] = dataclasses.replace(
                family, revoked_at=now, revoke_reason=reason
            )
            count += 1
        return count

    async def mark_suspect(self, family_id: str) -> None:
        self._check()
        family = self._families.get(family_id)
        if family is not None:
            self._families[family_id] = dataclasses.replace(family, suspect=True)

    async def list_families(self, sub: str | None = None) -> list[RefreshFamily]:
        self._check()
        found = [f for f in self._families.values() if sub is None or f.sub == sub]
        return sorted(found, key=lambda f: (f.created_at, f.id))

    async def purge_expired(self, now: float) -> int:
        self._check()
        dead_families = {f.id for f in self._families.values() if f.expires_at <= now}
        # Consumed tokens of a live family stay: they are what reveals a later replay.
        dead_tokens = [
            h
            for h, r in self._tokens.items()
            if r.family_id in dead_families or (r.consumed_at is None and r.idle_expires_at <= now)
        ]
        dead_jtis = [jti for jti, exp in self._jtis.items() if exp <= now]
        for h in dead_tokens:
            del self._tokens[h]
        for fid in dead_families:
            del self._families[fid]
        for jti in dead_jtis:
            del self._jtis[jti]
        return len(dead_tokens) + len(dead_families) + len(dead_jtis)

    # -- revocation and state ----------------------------------------------------------------

    async def revoke_jti(self, jti: str, expires_at: float) -> None:
        self._check()
        # Keep the later expiry: revoking twice must never shorten a revocation.
        self._jtis[jti] = max(expires_at, self._jtis.get(jti, expires_at))
        self._version += 1

    async def revoked_jtis(self, now: float) -> set[str]:
        self._check()
        return {jti for jti, exp in self._jtis.items() if exp > now}

    async def set_cutoff(self, cutoff: float) -> None:
        self._check()
        self._cutoff = cutoff
        self._version += 1

    async def get_cutoff(self) -> float | None:
        self._check()
        return self._cutoff

    async def state_version(self) -> int:
        self._check()
        return self._version

    async def bump_state_version(self) -> int:
        self._check()
        self._version += 1
        return self._version

    # -- audit -------------------------------------------------------------------------------

    async def record_event(self, event: SecurityEvent) -> None:
        self._check()
        stored = dataclasses.replace(event, id=len(self._events) + 1, details=dict(event.details))
        self._events.append(stored)

    async def list_events(self, kind: str | None = None, limit: int = 100) -> list[SecurityEvent]:
        self._check()
        found = [e for e in self._events if kind is None or e.kind == kind]
        found.sort(key=lambda e: (e.at, e.id), reverse=True)
        return found[: max(limit, 0)]
