"""Claims policy: which claims an access token may carry, and that none of them holds PII.

Security invariant 1: no PII in any token. The allow-list refuses any claim not registered; the
PII engine refuses values that look like personal data. Errors name the claim, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tokenveil.errors import ClaimsPolicyViolation

__all__ = ["ACCESS_TOKEN_CLAIMS", "ClaimsPolicy"]

#: RFC 9068 §2.2 claims, plus ``cnf`` (RFC 9449 DPoP binding) and ``nbf``.
ACCESS_TOKEN_CLAIMS: frozenset[str] = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "cnf", "auth_time"}
)
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3 scope-token


@dataclass(frozen=True, slots=True)
class ClaimsPolicy:
    """An allow-list of claim names, checked with the PII engine at issue time."""

    allowed: frozenset[str] = ACCESS_TOKEN_CLAIMS

    @classmethod
    def with_extra(cls, extra: Iterable[str]) -> ClaimsPolicy:
        return cls(ACCESS_TOKEN_CLAIMS | frozenset(extra))

    def check(self, claims: Mapping[str, object]) -> None:
        """Raise :class:`ClaimsPolicyViolation` for the first claim that may not be issued."""
        for name in claims:
            if name not in self.allowed:
                raise ClaimsPolicyViolation(name, "not in the claims allow-list")
        scope = claims.get("scope")
        if scope is not None and (
            not isinstance(scope, str) or not all(_SCOPE_TOKEN.match(s) for s in scope.split())
        ):
            raise ClaimsPolicyViolation("scope", "not a space-separated list of scope tokens")
        from tokenveil.pii import lint_claims

        for finding in lint_claims(claims):
            claim = finding.path or "?"
            raise ClaimsPolicyViolation(claim, "value looks like personal data", finding.kind)
