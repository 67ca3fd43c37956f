"""Verification for resource servers that do not issue tokens: keys from the issuer's JWKS URL.

The JWKS is fetched once, cached, and refetched when it is older than ``max_age`` or when a token
names an unknown ``kid`` (at most once per ``min_refetch_interval``, so forged kids cannot make
us hammer the issuer). A key the issuer stopped publishing (retired or revoked) disappears from
the cache at the next fetch, and tokens signed with it are refused from then on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tokenveil._principal import Principal
from tokenveil.errors import ConfigurationError, StoreUnavailable
from tokenveil.keys._algorithms import PublicKey, public_key_from_jwk
from tokenveil.tokens._verify import AccessTokenVerifier, UnknownSigningKey

if TYPE_CHECKING:
    import httpx

__all__ = ["JWKSKeys", "RemoteVerifier"]

Clock = Callable[[], float]
_MAX_JWKS_BYTES = 256 * 1024


class JWKSKeys:
    """A key resolver over a remote JWK Set.

    A failed fetch backs off (doubling from ``min_refetch_interval`` up to ``max_age``) and keeps
    serving the keys it has, for at most ``hard_stale_after`` seconds; with no keys at all,
    verification fails closed. The body is read with a byte cap, and only ``https`` URLs are
    accepted, except on loopback.
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age: float = 300,
        min_refetch_interval: float = 30,
        hard_stale_after: float = 3600,
        clock: Clock = time.monotonic,
    ) -> None:
        parsed = urlsplit(url)
        loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise ConfigurationError("the JWKS URL must use https (plain http only on loopback)")
        self._url = url
        self._client = client
        self._max_age = max_age
        self._min_interval = min_refetch_interval
        self._hard_stale = hard_stale_after
        self._clock = clock
        self._keys: dict[str, PublicKey] = {}
        self._dropped: set[str] = set()
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._backoff = min_refetch_interval
        self._lock = asyncio.Lock()

    def public_key(self, kid: str) -> PublicKey | None:
        if self._clock() - self._fetched_at > self._hard_stale:
            return None  # too old to trust: the issuer may have revoked any of these
        return self._keys.get(kid)

    def is_revoked(self, kid: str) -> bool:
        return kid in self._dropped

    @property
    def stale(self) -> bool:
        return self._clock() - self._fetched_at >= self._max_age

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the JWKS if it is stale (or ``force``), rate-limited. True when fetched."""
        async with self._lock:
            now = self._clock()
            if now - self._fetched_at < self._min_interval:
                return False
            if not force and now - self._fetched_at < self._max_age:
                return False
            if now - self._attempted_at < self._backoff:
                return self._unavailable_if_keyless()
            self._attempted_at = now
            try:
                document = await self._fetch()
            except Exception as exc:
                self._backoff = min(self._backoff * 2, max(self._max_age, self._min_interval))
                if not self._keys or now - self._fetched_at > self._hard_stale:
                    # Fail closed: without the issuer's keys nothing new can be verified.
                    raise StoreUnavailable("the issuer's JWKS cannot be fetched") from exc
                return False
            self._backoff = self._min_interval
            self._install(document, now)
            return True

    def _unavailable_if_keyless(self) -> bool:
        if not self._keys:
            raise StoreUnavailable("the issuer's JWKS cannot be fetched")
        return False

    async def _fetch(self) -> object:
        async with self._client.stream(
            "GET", self._url, headers={"Accept": "application/json"}
        ) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_JWKS_BYTES:
                    raise ValueError("JWKS too large")
        return json.loads(body)

    def _install(self, document: object, now: float) -> None:
        keys: dict[str, PublicKey] = {}
        entries = document.get("keys", []) if isinstance(document, dict) else []
        for jwk in entries if isinstance(entries, list) else []:
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
        self._fetched_at = now


class RemoteVerifier:
    """Verifies access tokens with only the issuer's JWKS URL (no store, no private key).

    What it cannot see: it checks signature, ``iss``, ``aud``, ``typ``, ``exp`` and ``nbf``,
    but it has no revocation state. A token revoked by ``jti`` (``POST /oauth/revoke``, the
    token-use monitor) and a kill-switch cut-off (``killswitch purge`` without
    ``--rotate-keys``) are invisible here: such a token stays valid until its ``exp`` plus
    ``leeway``. The only revocation a JWKS-only verifier learns of is a key leaving the JWKS
    (retired, revoked, or every key after ``killswitch purge --rotate-keys``), at its next
    fetch: within ``max_age`` seconds, sooner for a token naming an unknown ``kid``.

    What to do about it: keep access tokens short-lived (the lifetime bounds the exposure);
    fire the kill switch with ``--rotate-keys`` when resource servers verify this way; lower
    ``max_age`` for a faster key cut-off; and for endpoints where a revoked token must stop at
    once, ask the issuer (RFC 7662 introspection, ``POST /oauth/introspect``) or verify with a
    :class:`tokenveil.service.TokenService` connected to the issuer's store and Redis. See
    ``docs/tokens.md``.
    """

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
