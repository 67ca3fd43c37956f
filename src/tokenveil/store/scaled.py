"""Many instances: durable records in SQL, shared revocation state in Redis, one ``Store``.

:class:`ScaledStore` routes the :class:`~tokenveil.store.RevocationStore` calls (revoked jtis,
the kill-switch cut-off, the state version) to :class:`~tokenveil.store.redis.RedisRevocations`,
whose every change also publishes an invalidation message, and everything else (users, clients,
keys, refresh families, the audit trail) to the SQL store. ``TokenService`` sees one ``Store``
and does not know the difference.

The SQL store bumps its own state counter when keys change; that counter is not the one
instances follow here, which is why every key change in ``TokenService`` bumps the (Redis)
state version explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenveil.errors import StoreUnavailable
from tokenveil.store._protocols import (
    Client,
    ConsumeResult,
    RefreshFamily,
    RefreshRecord,
    SecurityEvent,
    Store,
    StoredKey,
    User,
)

if TYPE_CHECKING:
    from tokenveil.store.redis import Redis, RedisRevocations

__all__ = ["ScaledStore", "open_scaled"]


class ScaledStore:
    """SQL for what must last, Redis for what every instance must see at once."""

    def __init__(
        self, sql: Store, redis: Redis, revocations: RedisRevocations, *, url: str, prefix: str
    ) -> None:
        self.sql = sql
        self.redis = redis
        self.revocations = revocations
        #: Redis URL, for the invalidation listener's own connection; never shown in ``repr``.
        self.redis_url = url
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"ScaledStore(sql={self.sql!r}, revocations={self.revocations!r})"

    @property
    def channel(self) -> str:
        return self.revocations.channel

    async def open(self) -> None:
        await self.sql.open()

    async def ping(self) -> None:
        """One cheap read of each service; :class:`StoreUnavailable` when either is down.

        Verification reads neither (keys and revocations are held locally), so without this a
        dead database would go unnoticed until the next change; invariant 9 wants it loud.
        """
        await self.sql.state_version()

    async def close(self) -> None:
        try:
            await self.sql.close()
        finally:
            try:
                await self.redis.aclose()
            except OSError as exc:  # closing a client whose server is gone
                raise StoreUnavailable("Redis is unreachable") from exc

    # -- RevocationStore: Redis ---------------------------------------------------------------

    async def revoke_jti(self, jti: str, expires_at: float) -> None:
        await self.revocations.revoke_jti(jti, expires_at)

    async def revoked_jtis(self, now: float) -> set[str]:
        return await self.revocations.revoked_jtis(now)

    async def set_cutoff(self, cutoff: float) -> None:
        await self.revocations.set_cutoff(cutoff)

    async def get_cutoff(self) -> float | None:
        return await self.revocations.get_cutoff()

    async def state_version(self) -> int:
        return await self.revocations.state_version()

    async def bump_state_version(self) -> int:
        return await self.revocations.bump_state_version()

    # -- everything else: SQL -----------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        return await self.sql.list_keys()

    async def put_key(self, key: StoredKey) -> None:
        await self.sql.put_key(key)

    async def delete_key(self, kid: str) -> None:
        await self.sql.delete_key(kid)

    async def add_user(self, user: User) -> None:
        await self.sql.add_user(user)

    async def get_user(self, user_id: str) -> User | None:
        return await self.sql.get_user(user_id)

    async def get_user_by_username(self, username: str) -> User | None:
        return await self.sql.get_user_by_username(username)

    async def list_users(self) -> list[User]:
        return await self.sql.list_users()

    async def update_user(self, user: User) -> bool:
        return await self.sql.update_user(user)

    async def delete_user(self, user_id: str, now: float) -> bool:
        return await self.sql.delete_user(user_id, now)

    async def add_client(self, client: Client) -> None:
        await self.sql.add_client(client)

    async def update_client(self, client: Client) -> bool:
        return await self.sql.update_client(client)

    async def replace_client_secret(self, client_id: str, old_hash: str, new_hash: str) -> bool:
        return await self.sql.replace_client_secret(client_id, old_hash, new_hash)

    async def delete_client(self, client_id: str, now: float) -> bool:
        return await self.sql.delete_client(client_id, now)

    async def get_client(self, client_id: str) -> Client | None:
        return await self.sql.get_client(client_id)

    async def list_clients(self) -> list[Client]:
        return await self.sql.list_clients()

    async def create_family(self, family: RefreshFamily, first: RefreshRecord) -> None:
        await self.sql.create_family(family, first)

    async def add_token(self, record: RefreshRecord) -> None:
        await self.sql.add_token(record)

    async def consume(self, token_hash: str, now: float) -> ConsumeResult:
        return await self.sql.consume(token_hash, now)

    async def rotate(self, token_hash: str, successor: RefreshRecord, now: float) -> ConsumeResult:
        return await self.sql.rotate(token_hash, successor, now)

    async def peek(self, token_hash: str) -> ConsumeResult:
        return await self.sql.peek(token_hash)

    async def get_family(self, family_id: str) -> RefreshFamily | None:
        return await self.sql.get_family(family_id)

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        await self.sql.revoke_family(family_id, now, reason)

    async def revoke_families(
        self, now: float, reason: str, *, sub: str | None = None, only_suspect: bool = False
    ) -> int:
        return await self.sql.revoke_families(now, reason, sub=sub, only_suspect=only_suspect)

    async def mark_suspect(self, family_id: str) -> None:
        await self.sql.mark_suspect(family_id)

    async def list_families(self, sub: str | None = None) -> list[RefreshFamily]:
        return await self.sql.list_families(sub)

    async def purge_expired(self, now: float) -> int:
        return await self.sql.purge_expired(now)

    async def record_event(self, event: SecurityEvent) -> None:
        await self.sql.record_event(event)

    async def list_events(self, kind: str | None = None, limit: int = 100) -> list[SecurityEvent]:
        return await self.sql.list_events(kind, limit)


def open_scaled(sql: Store, redis_url: str, *, prefix: str) -> ScaledStore:
    """A :class:`ScaledStore` over ``sql`` and the Redis at ``redis_url`` (unopened)."""
    from tokenveil.store.redis import RedisRevocations, connect

    client = connect(redis_url)
    return ScaledStore(
        sql, client, RedisRevocations(client, prefix=prefix), url=redis_url, prefix=prefix
    )
