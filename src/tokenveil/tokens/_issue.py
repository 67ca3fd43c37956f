"""Issue RFC 9068 access tokens with minimal claims, checked by the claims policy.

``iat`` is a whole second (RFC 7519 §2 NumericDate, as every JWT library writes it) while the
kill-switch cut-off is a float. An issuer given the current cut-off (``not_before``) stamps
``iat = max(int(now), ceil(cutoff))``: a token issued in the same second as a purge, after it,
is never mistaken for one issued before it.

``extra`` claims add to the token; they never replace a claim the issuer sets or checks
(:data:`RESERVED_CLAIMS`). An ``extra`` that names one is refused with
:class:`~tokenveil.errors.ClaimsPolicyViolation` naming the claim: an ``extra={"sub": ...}`` or
``{"exp": ...}`` passed through from a caller would otherwise impersonate another subject or
outlive every lifetime.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tokenveil.errors import ClaimsPolicyViolation
from tokenveil.keys._algorithms import PrivateKey
from tokenveil.tokens._claims import ClaimsPolicy
from tokenveil.tokens._jws import encode_compact

__all__ = ["RESERVED_CLAIMS", "IssuedToken", "SigningKeySource", "TokenIssuer"]

Clock = Callable[[], float]

#: Claims only the issuer writes (RFC 7519 §4.1, RFC 9068 §2.2, RFC 9449 §6.1); ``typ`` and
#: ``cty`` belong to the header (RFC 9068 §2.1), and a claim by that name would only mislead.
RESERVED_CLAIMS: frozenset[str] = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "cnf", "typ", "cty"}
)


class SigningKeySource(Protocol):
    def signing_key(self) -> PrivateKey: ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed access token. ``repr`` never shows the token."""

    token: str = field(repr=False)
    jti: str
    expires_at: int
    expires_in: int
    scope: str


class TokenIssuer:
    """Signs access tokens with the key ring's active key."""

    def __init__(
        self,
        keys: SigningKeySource,
        *,
        issuer: str,
        audience: str,
        ttl: int = 600,
        policy: ClaimsPolicy | None = None,
        clock: Clock = time.time,
        not_before: Callable[[], float] | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        self._policy = policy or ClaimsPolicy()
        self._clock = clock
        self._not_before = not_before

    def issue(
        self,
        *,
        sub: str,
        client_id: str,
        scope: Iterable[str] = (),
        jkt: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> IssuedToken:
        now = int(self._clock())
        if self._not_before is not None:
            now = max(now, math.ceil(self._not_before()))
        jti = secrets.token_urlsafe(16)
        scope_text = " ".join(sorted(set(scope)))
        claims: dict[str, object] = {
            "iss": self._issuer,
            "sub": sub,
            "aud": self._audience,
            "exp": now + self._ttl,
            "iat": now,
            "jti": jti,
            "client_id": client_id,
            "scope": scope_text,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1
        if extra:
            for name in extra:
                if name in RESERVED_CLAIMS:
                    raise ClaimsPolicyViolation(name, "set by the issuer; extra claims may not")
            claims.update(extra)
        # Invariant 1: refuse, at issue time, any claim off the allow-list or holding PII.
        self._policy.check(claims)
        key = self._keys.signing_key()
        header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        return IssuedToken(
            encode_compact(header, claims, key), jti, now + self._ttl, self._ttl, scope_text
        )
