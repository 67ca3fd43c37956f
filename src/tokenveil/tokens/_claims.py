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
#: Keys of nested claim objects are names, never data: an email used as a key is still an email.
_NESTED_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MAX_DEPTH = 8


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
        for name, value in claims.items():
            _check_nested_keys(name, value, 0)
        from tokenveil.pii import lint_claims

        for finding in lint_claims(claims):
            # Only the top-level claim is named: a nested path could itself carry data.
            claim = re.split(r"[.\[]", finding.path or "?", maxsplit=1)[0]
            raise ClaimsPolicyViolation(claim, "value looks like personal data", finding.kind)


def _check_nested_keys(claim: str, value: object, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ClaimsPolicyViolation(claim, "nested too deeply")
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str) or not _NESTED_KEY.match(key):
                raise ClaimsPolicyViolation(claim, "holds an object key that is not a plain name")
            _check_nested_keys(claim, inner, depth + 1)
    elif isinstance(value, list | tuple):
        for inner in value:
            _check_nested_keys(claim, inner, depth + 1)
