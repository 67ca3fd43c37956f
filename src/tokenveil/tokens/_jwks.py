"""Verification for resource servers that do not issue tokens: keys from the issuer's JWKS URL.

The JWKS is fetched once, cached, and refetched when it is older than ``max_age`` or when a token
names an unknown ``kid`` (at most once per ``min_refetch_interval``, so forged kids cannot make
us hammer the issuer). A key the issuer stopped publishing (retired or revoked) disappears from
the cache at the next fetch, and tokens signed with it are refused from then on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tokenveil._principal import Principal
from tokenveil.errors import StoreUnavailable
from tokenveil.keys._algorithms import PublicKey, public_key_from_jwk
from tokenveil.tokens._verify import AccessTokenVerifier, UnknownSigningKey

if TYPE_CHECKING:
    import httpx

__all__ = ["JWKSKeys", "RemoteVerifier"]

Clock = Callable[[], float]
_MAX_JWKS_BYTES = 256 * 1024


class JWKSKeys:
    """A key resolver over a remote JWK Set."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age: float = 300,
        min_refetch_interval: float = 30,
        clock: Clock = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._max_age = max_age
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._keys: dict[str, PublicKey] = {}
        self._dropped: set[str] = set()
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    def public_key(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)

    def is_revoked(self, kid: str) -> bool:
        return kid in self._dropped

    @property
    def stale(self) -> bool:
        return self._clock() - self._fetched_at >= self._max_age

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the JWKS if it is stale (or ``force``), rate-limited. True when fetched."""
        async with self._lock:
            since = self._clock() - self._fetched_at
            if since < self._min_interval or (not force and since < self._max_age):
                return False
            try:
                response = await self._client.get(self._url, headers={"Accept": "application/json"})
                response.raise_for_status()
                if len(response.content) > _MAX_JWKS_BYTES:
                    raise ValueError("JWKS too large")
                document = response.json()
            except Exception as exc:
                # Fail closed: without the issuer's keys nothing new can be verified.
                raise StoreUnavailable("the issuer's JWKS cannot be fetched") from exc
            keys: dict[str, PublicKey] = {}
            for jwk in document.get("keys", []) if isinstance(document, dict) else []:
                if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                    continue
                try:
                    key = public_key_from_jwk({str(k): str(v) for k, v in jwk.items()})
                except (ValueError, KeyError):
                    continue  # one bad entry must not take the others down
                keys[key.kid] = key
            self._dropped |= set(self._keys) - set(keys)
            self._dropped -= set(keys)
            self._keys = keys
            self._fetched_at = self._clock()
            return True


class RemoteVerifier:
    """Verifies access tokens with only the issuer's JWKS URL (no store, no private key)."""

    def __init__(
        self,
        keys: JWKSKeys,
        *,
        issuer: str,
        audience: str,
        leeway: float = 30,
        clock: Clock = time.time,
    ) -> None:
        self.keys = keys
        self.verifier = AccessTokenVerifier(
            keys, issuer=issuer, audience=audience, leeway=leeway, clock=clock
        )

    async def verify_async(self, token: str) -> Principal:
        if self.keys.stale:
            await self.keys.refresh()
        try:
            return self.verifier.verify(token)
        except UnknownSigningKey:
            if not await self.keys.refresh(force=True):
                raise
            return self.verifier.verify(token)
