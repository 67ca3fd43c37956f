"""Claims lint: which claims of a token payload hold personal data (invariant 1: none may).

The token issuer calls :func:`lint_claims` before signing; the scanner calls :func:`lint_token` on
tokens it sees. Registered JWT claims (RFC 7519 §4.1) are still scanned, because ``sub`` holding
an email is the classic leak, but their numeric dates are not.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from tokenveil.errors import MalformedToken
from tokenveil.pii._evidence import Hint
from tokenveil.pii._finding import Finding
from tokenveil.pii._structure import Loc, collect, findings_of, loc_path, scan_collected

__all__ = ["lint_claims", "lint_token"]

#: NumericDate claims (RFC 7519 §4.1.4-6, OIDC auth_time/updated_at): seconds, never PII.
_TIME_CLAIMS = frozenset({"exp", "nbf", "iat", "auth_time", "updated_at"})

#: The payload is a person's record: a top-level "name" is the OIDC full name (OIDC Core §5.1).
_CLAIMS_ROOT = Hint(person_container=True)


def _claim_path(loc: Loc) -> str:
    return loc_path(loc, root="").lstrip(".")


def lint_claims(claims: Mapping[str, object], *, min_confidence: float = 0.5) -> list[Finding]:
    """Findings for every claim that holds PII or a secret; ``path`` is the claim path
    (``email``, ``profile.phone``, ``addresses[0]``) and offsets are inside its value."""
    payload = {k: v for k, v in claims.items() if not (k in _TIME_CLAIMS and type(v) is int)}
    collected = collect(payload, _CLAIMS_ROOT)
    raws = scan_collected(collected)
    return findings_of(
        collected, raws, kinds=None, min_confidence=min_confidence, path_of=_claim_path
    )


def _decode_unverified(token: str) -> dict[str, object]:
    """UNVERIFIED: the payload of a compact JWS, decoded WITHOUT checking its signature.

    For linting only. Nothing read here may be trusted for an access decision; the verifier in
    ``tokenveil.tokens`` is the only place a token's claims become facts.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise MalformedToken("not a compact JWS (three dot-separated parts)")
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken("the payload is not base64url-encoded JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedToken("the payload is not a JSON object")
    return payload


def lint_token(token: str, *, min_confidence: float = 0.5) -> list[Finding]:
    """Lint the claims of a compact JWT without verifying it (see :func:`_decode_unverified`).

    Raises :class:`~tokenveil.errors.MalformedToken` when the token cannot be decoded.
    """
    return lint_claims(_decode_unverified(token), min_confidence=min_confidence)
