"""The key ring: signing keys through their lifecycle, and the JWKS that publishes them.

Lifecycle::

    next ──rotate──▶ active ──rotate──▶ retiring ──(every token it signed expired)──▶ removed
      └──────────────────┴──────────────────┴──revoke──▶ revoked (rejected at once)

``emergency_rotate`` (the kill switch) revokes every key at once and starts a fresh active and
next key.

A *next* key is published in the JWKS one rotation period before it signs anything, so resource
servers that cache the JWKS know it in time. A *retiring* key only verifies, until the longest
lifetime of a token it signed has passed. A *revoked* key verifies nothing from the instant it is
revoked; if it was the active key, the next one takes over immediately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from tokenveil.errors import NoActiveKey, UnknownKey
from tokenveil.keys._algorithms import (
    PrivateKey,
    PublicKey,
    generate_private_key,
    load_private_key,
)
from tokenveil.keys._kek import KeyEncryptor
from tokenveil.store._protocols import KeyStore, StoredKey

__all__ = ["KeyInfo", "KeyRing"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What ``tokenveil keys list`` shows: public facts only."""

    kid: str
    alg: str
    state: str
    created_at: float
    activated_at: float | None
    retired_at: float | None
    revoked_at: float | None
    not_after: float | None


class KeyRing:
    """Signing keys held in memory, persisted (encrypted) through a :class:`KeyStore`.

    Lookups on the hot path (:meth:`public_key`, :meth:`signing_key`) are synchronous dict reads;
    changes go through the store first, then refresh the in-memory view.
    """

    def __init__(
        self,
        store: KeyStore,
        encryptor: KeyEncryptor,
        *,
        alg: str = "ES256",
        rotation_period: float = 30 * 24 * 3600,
        max_token_lifetime: float = 15 * 60,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._encryptor = encryptor
        self._alg = alg
        self._period = rotation_period
        self._lifetime = max_token_lifetime
        self._clock = clock
        self._stored: dict[str, StoredKey] = {}
        self._public: dict[str, PublicKey] = {}
        self._active: PrivateKey | None = None
        self._revoked: frozenset[str] = frozenset()

    # -- hot path -------------------------------------------------------------------------

    def signing_key(self) -> PrivateKey:
        if self._active is None:
            raise NoActiveKey()
        return self._active

    def public_key(self, kid: str) -> PublicKey | None:
        """The verification key for ``kid``: next, active or retiring; never revoked."""
        return self._public.get(kid)

    def is_revoked(self, kid: str) -> bool:
        return kid in self._revoked

    # -- views ----------------------------------------------------------------------------

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set: every key that may verify now or soon. No private member ever."""
        return {"keys": [key.to_jwk() for key in self._public.values()]}

    def list_keys(self) -> list[KeyInfo]:
        return [
            KeyInfo(
                k.kid,
                k.alg,
                k.state,
                k.created_at,
                k.activated_at,
                k.retired_at,
                k.revoked_at,
                k.not_after,
            )
            for k in sorted(self._stored.values(), key=lambda k: k.created_at)
        ]

    # -- lifecycle ------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the stored keys and rebuild the in-memory view (after a change elsewhere too)."""
        self._apply(await self._store.list_keys())

    async def ensure(self) -> None:
        """Load, and create an active and a next key when there are none (first run)."""
        await self.load()
        now = self._clock()
        if self._active is None:
            candidates = [k for k in self._stored.values() if k.state == "next"]
            if candidates:
                await self._promote(candidates[0], now)
            else:
                await self._put(self._new_key("active", now))
        if not any(k.state == "next" for k in self._stored.values()):
            await self._put(self._new_key("next", now))
        await self.load()

    async def rotate(self) -> str:
        """next → active, active → retiring, a new next. Returns the new active ``kid``."""
        await self.load()
        now = self._clock()
        await self._retire_active(now)
        nxt = next((k for k in self._stored.values() if k.state == "next"), None)
        if nxt is None:
            nxt = self._new_key("next", now)
            await self._put(nxt)
        await self._promote(nxt, now)
        await self._put(self._new_key("next", now))
        await self._drop_expired(now)
        await self.load()
        assert self._active is not None
        return self._active.kid

    async def maybe_rotate(self) -> bool:
        """Scheduled rotation: rotate when the active key has served its period; drop dead keys."""
        await self.load()
        now = self._clock()
        active = next((k for k in self._stored.values() if k.state == "active"), None)
        if active is None or (active.activated_at or active.created_at) + self._period <= now:
            await self.rotate()
            return True
        if await self._drop_expired(now):
            await self.load()
        return False

    async def emergency_rotate(self) -> tuple[str, int]:
        """Kill switch: revoke every key (next included) and start a new active and next key.

        A leaked key store exposes the *next* key as much as the active one, so none of them is
        promoted. Returns the new active ``kid`` and how many keys were revoked. The new active
        key is stored before the old ones are revoked, so signing never lacks a key.
        """
        await self.load()
        now = self._clock()
        old = [k for k in self._stored.values() if k.state != "revoked"]
        fresh = self._new_key("active", now)
        await self._put(fresh)
        await self._put(self._new_key("next", now))
        for key in old:
            await self._store.put_key(replace(key, state="revoked", revoked_at=now))
        await self.load()
        return fresh.kid, len(old)

    async def revoke(self, kid: str) -> None:
        """Revoke at once. If ``kid`` was the active key, the next key takes over now."""
        await self.load()
        stored = self._stored.get(kid)
        if stored is None:
            raise UnknownKey()
        if stored.state == "revoked":
            return
        now = self._clock()
        await self._store.put_key(replace(stored, state="revoked", revoked_at=now))
        if stored.state == "active":
            await self.load()
            nxt = next((k for k in self._stored.values() if k.state == "next"), None)
            if nxt is None:
                nxt = self._new_key("next", now)
                await self._put(nxt)
            await self._promote(nxt, now)
            await self._put(self._new_key("next", now))
        elif stored.state == "next":
            await self._put(self._new_key("next", now))
        await self.load()

    # -- internals ------------------------------------------------------------------------

    def _apply(self, stored: Iterable[StoredKey]) -> None:
        by_kid = {k.kid: k for k in stored}
        public: dict[str, PublicKey] = {}
        active: PrivateKey | None = None
        for key in sorted(by_kid.values(), key=lambda k: k.created_at):
            if key.state == "revoked":
                continue
            private = self._decrypt(key) if key.state == "active" else None
            if private is not None:
                active = private
            public[key.kid] = self._public_of(key, private)
        self._stored = by_kid
        self._public = public
        self._active = active
        self._revoked = frozenset(k.kid for k in by_kid.values() if k.state == "revoked")

    def _public_of(self, key: StoredKey, private: PrivateKey | None) -> PublicKey:
        existing = self._public.get(key.kid)
        if existing is not None:
            return existing
        if private is not None:
            return private.public
        from tokenveil.keys._algorithms import public_key_from_jwk

        return public_key_from_jwk({**key.public_jwk, "kid": key.kid, "alg": key.alg})

    def _decrypt(self, key: StoredKey) -> PrivateKey:
        if self._active is not None and self._active.kid == key.kid:
            return self._active
        der = self._encryptor.decrypt(key.private_blob, kid=key.kid)
        return load_private_key(key.kid, key.alg, der)

    def _new_key(self, state: str, now: float) -> StoredKey:
        private = generate_private_key(self._alg)
        jwk = private.public.to_jwk()
        return StoredKey(
            kid=private.kid,
            alg=private.alg,
            state="active" if state == "active" else "next",
            public_jwk=jwk,
            private_blob=self._encryptor.encrypt(private.private_bytes(), kid=private.kid),
            created_at=now,
            activated_at=now if state == "active" else None,
        )

    async def _put(self, key: StoredKey) -> None:
        await self._store.put_key(key)

    async def _promote(self, key: StoredKey, now: float) -> None:
        await self._store.put_key(replace(key, state="active", activated_at=now))

    async def _retire_active(self, now: float) -> None:
        for key in list(self._stored.values()):
            if key.state == "active":
                # It keeps verifying until the last token it signed has expired.
                retired = replace(
                    key, state="retiring", retired_at=now, not_after=now + self._lifetime
                )
                await self._store.put_key(retired)

    async def _drop_expired(self, now: float) -> bool:
        dropped = False
        for key in list(self._stored.values()):
            expired_retiree = key.state == "retiring" and (key.not_after or 0) <= now
            # A revoked key is kept long enough for every instance to learn of the revocation.
            stale_revoked = key.state == "revoked" and (key.revoked_at or 0) + self._period <= now
            if expired_retiree or stale_revoked:
                await self._store.delete_key(key.kid)
                dropped = True
        return dropped
