"""Access-token verification: the hot path (RFC 9068 §4, RFC 8725).

Every check is here, in order, and each failure raises its own :class:`InvalidToken` subclass so
tests and metrics can tell them apart; the HTTP edge turns them all into one opaque 401.

A token verified recently is kept in a small bounded cache; a repeat still checks expiry,
revocation of its ``jti`` and ``kid``, the kill-switch cut-off and store freshness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from tokenveil._principal import Principal
from tokenveil.errors import (
    BadSignature,
    ClaimMismatch,
    ExpiredToken,
    ForbiddenHeader,
    InvalidToken,
    MalformedToken,
    RevokedToken,
    StoreUnavailable,
    TokenNotYetValid,
)
from tokenveil.keys._algorithms import PublicKey, SymmetricKey
from tokenveil.tokens._jws import (
    decode_json_segment,
    decode_signature,
    decode_signed_payload,
    split_compact,
)

__all__ = ["AccessTokenVerifier", "KeyResolver", "RevocationView", "UnknownSigningKey"]

Clock = Callable[[], float]

# RFC 7515 §4.1.2-§4.1.6 and RFC 8725 §3.10: keys or key locations chosen by the token itself are
# never honoured. ``crit`` lists extensions we would have to understand; we understand none.
_FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
_ACCEPTED_TYP = ("at+jwt", "application/at+jwt")  # RFC 9068 §2.1
_HEADER_CACHE_SIZE = 256


class UnknownSigningKey(InvalidToken):
    """No verification key with the token's ``kid``; a JWKS-backed resolver may refetch once."""

    reason = "unknown_key"

    def __init__(self, kid: str) -> None:
        self.kid = kid
        super().__init__()


class KeyResolver(Protocol):
    def public_key(self, kid: str) -> PublicKey | SymmetricKey | None: ...

    def is_revoked(self, kid: str) -> bool: ...


@dataclass(slots=True)
class RevocationView:
    """The revocation state this instance knows, kept current by a sync loop.

    ``fresh_until`` is pushed forward on every successful sync. Past it, the view may be stale
    (the store is unreachable) and verification fails closed (security invariant 9).
    """

    jtis: set[str] = field(default_factory=set)
    cutoff: float = 0.0
    fresh_until: float = math.inf
    version: int = -1

    def check(self, jti: str, iat: float, now: float) -> None:
        if now > self.fresh_until:
            raise StoreUnavailable("revocation state is stale; refusing tokens until it syncs")
        if jti in self.jtis or iat < self.cutoff:
            raise RevokedToken()


class AccessTokenVerifier:
    """Verify RFC 9068 access tokens against a key resolver. Returns a Principal or raises."""

    def __init__(
        self,
        keys: KeyResolver,
        *,
        issuer: str,
        audience: str,
        leeway: float = 30,
        max_bytes: int = 8 * 1024,
        revocations: RevocationView | None = None,
        clock: Clock = time.time,
        cache_size: int = 10_000,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._max_bytes = max_bytes
        self.revocations = revocations if revocations is not None else RevocationView()
        self._clock = clock
        self._cache: dict[str, Principal] = {}
        self._headers: dict[str, tuple[str, str]] = {}
        self._cache_size = cache_size

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        if now is None:
            now = self._clock()
        cached = self._cache.get(token)
        if cached is not None:
            # The repeat path, inlined: it must stay far above 1M/s. Any doubt falls through
            # to _recheck, which raises the precise error.
            rev = self.revocations
            if (
                now <= cached.expires_at + self._leeway
                and now <= rev.fresh_until
                and cached.issued_at >= rev.cutoff
                and cached.jti not in rev.jtis
                and not self._keys.is_revoked(cached.kid)
            ):
                return cached
            return self._recheck(token, cached, now)
        principal = self._verify_fully(token, now)
        if self._cache_size > 0:
            cache = self._cache
            if len(cache) >= self._cache_size:
                del cache[next(iter(cache))]  # oldest first: dicts keep insertion order
            cache[token] = principal
        return principal

    def forget(self) -> None:
        """Drop the repeat cache (after a key revocation, say)."""
        self._cache.clear()

    def _recheck(self, token: str, principal: Principal, now: float) -> Principal:
        if now > principal.expires_at + self._leeway:
            del self._cache[token]
            raise ExpiredToken()
        if self._keys.is_revoked(principal.kid):
            raise RevokedToken()
        self.revocations.check(principal.jti, principal.issued_at, now)
        return principal

    def _verify_fully(self, token: str, now: float) -> Principal:
        h64, p64, s64 = split_compact(token, self._max_bytes)
        # Every token a key signs carries the same header bytes, so a header that passed the
        # rules once maps straight to its (kid, alg). The key itself is still looked up, and
        # its revocation checked, on every token.
        checked = self._headers.get(h64)
        if checked is None:
            checked = _check_header(decode_json_segment(h64))
            if len(self._headers) >= _HEADER_CACHE_SIZE:
                self._headers.clear()
            self._headers[h64] = checked
        kid, alg = checked

        key = self._keys.public_key(kid)
        if key is None:
            if self._keys.is_revoked(kid):
                raise RevokedToken()
            raise UnknownSigningKey(kid)
        # RFC 8725 §3.1: the key decides the algorithm. A header naming another one is a forgery
        # attempt (HS256 signed with an RSA public key, for instance), never a reason to switch.
        if alg != key.alg:
            raise ForbiddenHeader(reason="alg_mismatch")
        signature = decode_signature(s64)
        if not key.verify(token[: len(h64) + 1 + len(p64)].encode("ascii"), signature):
            raise BadSignature()

        return self._check_claims(decode_signed_payload(p64), kid, now)

    def _check_claims(self, claims: dict[str, Any], kid: str, now: float) -> Principal:
        # Written flat on purpose: one full verification per new token, and every call and
        # attribute lookup here shows in bench/verify.py's ratio to the bare signature check.
        leeway = self._leeway
        get = claims.get
        # RFC 7519 §2 NumericDate; an int is the common case, anything else is checked fully.
        exp = get("exp")
        if type(exp) is not int:
            exp = _numeric(claims, "exp")
        iat = get("iat")
        if type(iat) is not int:
            iat = _numeric(claims, "iat")
        if now > exp + leeway:
            raise ExpiredToken()
        if iat > now + leeway:
            raise TokenNotYetValid()
        if "nbf" in claims and _numeric(claims, "nbf") > now + leeway:
            raise TokenNotYetValid()
        if get("iss") != self._issuer:
            raise ClaimMismatch("iss")
        aud = get("aud")
        if aud != self._audience and not (type(aud) is list and self._audience in aud):
            raise ClaimMismatch("aud")
        sub, jti, client_id, scope = get("sub"), get("jti"), get("client_id"), get("scope", "")
        if type(sub) is not str or not sub:
            raise ClaimMismatch("sub")
        if type(jti) is not str or not jti:
            raise ClaimMismatch("jti")
        if type(client_id) is not str:
            raise ClaimMismatch("client_id")
        if type(scope) is not str:
            raise ClaimMismatch("scope")
        # The key was looked up (and found unrevoked) just before; only jti and cut-off remain.
        rev = self.revocations
        if now > rev.fresh_until or iat < rev.cutoff or jti in rev.jtis:
            rev.check(jti, iat, now)  # raises the precise error
        cnf = get("cnf")
        jkt = cnf.get("jkt") if type(cnf) is dict else None
        return _new_principal(
            Principal,
            (
                sub,
                frozenset(scope.split()),
                client_id,
                jti,
                int(iat),
                int(exp),
                kid,
                jkt if type(jkt) is str else None,
                # Read-only: the cached Principal is shared by every request with this token.
                MappingProxyType(claims),
            ),
        )


#: ``tuple.__new__`` with every field in order: the named tuple's own ``__new__`` is a Python
#: function, one more frame per verification (a test pins the field order).
_new_principal: Callable[[type[Principal], tuple[object, ...]], Principal]
_new_principal = tuple.__new__


def _check_header(header: dict[str, Any]) -> tuple[str, str]:
    """The JOSE header rules; returns (kid, alg) or raises."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise ForbiddenHeader(reason="alg_none")
    if not _FORBIDDEN_HEADERS.isdisjoint(header):
        name = sorted(_FORBIDDEN_HEADERS.intersection(header))[0]
        raise ForbiddenHeader(reason=f"header_{name}")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP:
        raise ClaimMismatch("typ")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedToken()
    return kid, alg


def _numeric(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if type(value) is int:
        return value
    # bool is an int subclass; `"exp": true` is not a date (RFC 7519 §2 NumericDate).
    kind = type(value)
    if (kind is not int and kind is not float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ClaimMismatch(name)
    return float(value)  # type: ignore[arg-type]
