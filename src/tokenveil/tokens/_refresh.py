"""Refresh tokens: opaque, single-use, stored hashed, grouped in families (RFC 9700 §4.14).

A refresh token is ``tvr_`` + 256 random bits (base64url). The prefix lets secret scanners and
log redaction recognise it; the store only ever sees its SHA-256. Each use consumes it and
returns a new one in the same family. A consumed token presented again means two parties hold
it: the whole family is revoked and a security event recorded.

Consuming is the point of no return. It happens in one store step with storing the successor
(``RefreshStore.rotate``), so a store failure never burns a token alone; and every check that
can fail for a reason the client did not cause (the store's freshness, the user's account, the
scopes still allowed) runs *before* it, through :meth:`RefreshTokens.rotate`'s
``before_consume``: a token burnt by a request that then fails is presented again by its honest
owner, looks like theft, and takes the family down.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tokenveil.errors import InvalidGrant, RefreshTokenReuse
from tokenveil.store._protocols import (
    AuditStore,
    RefreshFamily,
    RefreshRecord,
    RefreshStore,
    SecurityEvent,
    token_live,
)

__all__ = ["REFRESH_TOKEN_PATTERN", "NewRefreshToken", "RefreshTokens", "hash_refresh_token"]

Clock = Callable[[], float]
#: Called with the live family just before its token is consumed; raising leaves it unconsumed.
BeforeConsume = Callable[[RefreshFamily], Awaitable[None]]
REFRESH_TOKEN_PATTERN = re.compile(r"\btvr_[A-Za-z0-9_-]{43}\b")
_PREFIX = "tvr_"


class _Backend(RefreshStore, AuditStore, Protocol):
    """The two store axes refresh families need."""


@dataclass(frozen=True, slots=True)
class NewRefreshToken:
    """A refresh token to hand to the client once. ``repr`` hides it."""

    token: str = field(repr=False)
    family: RefreshFamily


def hash_refresh_token(token: str) -> str:
    # A plain SHA-256 suffices: the token carries 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RefreshTokens:
    """Families of rotating refresh tokens with reuse detection."""

    def __init__(
        self,
        store: _Backend,
        *,
        idle_ttl: float,
        absolute_ttl: float,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._idle = idle_ttl
        self._absolute = absolute_ttl
        self._clock = clock

    async def start(
        self, *, sub: str, client_id: str, scope: Iterable[str], dpop_jkt: str | None = None
    ) -> NewRefreshToken:
        """A new family (one login) and its first token."""
        now = self._clock()
        family = RefreshFamily(
            id=secrets.token_urlsafe(16),
            sub=sub,
            client_id=client_id,
            scope=tuple(sorted(set(scope))),
            created_at=now,
            expires_at=now + self._absolute,
            dpop_jkt=dpop_jkt,
        )
        token = _new_token()
        await self._store.create_family(family, self._record(token, family, now))
        return NewRefreshToken(token, family)

    async def rotate(
        self,
        token: str,
        *,
        client_id: str,
        dpop_jkt: str | None = None,
        before_consume: BeforeConsume | None = None,
    ) -> NewRefreshToken:
        """Consume ``token`` and return its successor. Raises :class:`InvalidGrant` otherwise.

        ``before_consume`` runs on a live, unconsumed token of this client's family, before it
        is consumed; whatever it raises propagates and the token stays usable. A consumed
        (reused) token skips it: reuse detection never waits on anything else.
        """
        if not REFRESH_TOKEN_PATTERN.fullmatch(token):
            raise InvalidGrant()
        now = self._clock()
        digest = hash_refresh_token(token)
        peeked = await self._store.peek(digest)
        family = peeked.family
        if family is None or peeked.record is None:
            raise InvalidGrant()
        if peeked.status == "ok":
            if family.dpop_jkt is not None and family.dpop_jkt != dpop_jkt:
                # RFC 9449 §5: no proof of the bound key, no rotation; and the token is left
                # unconsumed, so a thief holding it cannot burn it and log its owner out.
                raise InvalidGrant()
            live = token_live(family, peeked.record, now)
            if before_consume is not None and live and family.client_id == client_id:
                await before_consume(family)
        # Consume and store the successor in one step: a store failure between the two would
        # burn the token without handing out the next, and the owner's retry would look like
        # theft (RFC 9700 §4.14). The successor is written only if this request wins.
        successor = _new_token()
        result = await self._store.rotate(digest, self._record(successor, family, now), now)
        family = result.family
        if result.status == "unknown" or family is None or result.record is None:
            raise InvalidGrant()
        if result.status == "reused":
            await self._store.revoke_family(family.id, now, "reuse")
            await self._store.record_event(
                SecurityEvent(
                    "refresh.reuse",
                    now,
                    {"family": family.id, "sub": family.sub, "client_id": family.client_id},
                )
            )
            raise RefreshTokenReuse(family.id)
        if not token_live(family, result.record, now):
            raise InvalidGrant()  # the store kept no successor for a dead family
        if family.client_id != client_id:
            # RFC 6749 §6: a refresh token is bound to the client it was issued to. The token is
            # consumed already; revoke the family (and the unissued successor with it), as a
            # stolen token is the likely story.
            await self._store.revoke_family(family.id, now, "client_mismatch")
            raise InvalidGrant()
        if family.dpop_jkt is not None and family.dpop_jkt != dpop_jkt:
            # RFC 9449 §5: a DPoP-bound family only rotates with proof of the same key.
            raise InvalidGrant()
        return NewRefreshToken(successor, family)

    async def revoke(self, token: str, *, client_id: str | None = None) -> None:
        """RFC 7009: revoke the token's family. Unknown tokens are silently accepted (§2.2)."""
        if not REFRESH_TOKEN_PATTERN.fullmatch(token):
            return
        now = self._clock()
        digest = hash_refresh_token(token)
        peeked = await self._store.peek(digest)
        family = peeked.family
        if family is None or (client_id is not None and family.client_id != client_id):
            # RFC 7009 §2.1: only the client the token was issued to may revoke it; another
            # client's request changes nothing (and, unlike a consume, cannot burn the token).
            return
        # Revoke first, then consume: a concurrent rotation either fails on the revoked family
        # or has already happened, and its successor dies with the family too.
        await self._store.revoke_family(family.id, now, "revoked_by_client")
        await self._store.consume(digest, now)

    def _record(self, token: str, family: RefreshFamily, now: float) -> RefreshRecord:
        idle = min(now + self._idle, family.expires_at)
        return RefreshRecord(hash_refresh_token(token), family.id, now, idle)


def _new_token() -> str:
    return _PREFIX + secrets.token_urlsafe(32)
