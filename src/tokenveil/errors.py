"""One exception tree for tokenveil.

Every error carries a machine-readable ``code``. Messages name fields, claims and kinds, never
values: an exception may end up in a log line or an error body, so it must be safe to print.

::

    TokenveilError
    ├── ConfigurationError
    ├── KeyRingError
    │   ├── NoActiveKey
    │   └── UnknownKey
    ├── StoreError
    │   └── StoreUnavailable          (verification fails closed on this)
    ├── ClaimsPolicyViolation         (issue time: a claim not allowed, or holding PII)
    ├── InvalidToken                  (verify time; the HTTP edge turns every one into one 401)
    │   ├── MalformedToken
    │   ├── ForbiddenHeader
    │   ├── BadSignature
    │   ├── ExpiredToken
    │   ├── TokenNotYetValid
    │   ├── ClaimMismatch
    │   ├── RevokedToken
    │   └── UnknownSigningKey         (tokenveil.tokens; a JWKS resolver may refetch once)
    ├── InsufficientScope             (403)
    ├── OAuthError                    (RFC 6749 §5.2 error responses)
    │   ├── InvalidRequest
    │   ├── InvalidClient
    │   ├── InvalidGrant
    │   │   └── RefreshTokenReuse     (RFC 9700 §4.14: the whole family is revoked)
    │   ├── UnauthorizedClient
    │   ├── UnsupportedGrantType
    │   └── InvalidScope
    ├── DPoPError                     (RFC 9449 proof failures)
    │   ├── InvalidDPoPProof          (tokenveil.dpop; ``reason`` says which check failed)
    │   ├── UseDPoPNonce              (tokenveil.dpop; carries the nonce to send back)
    │   └── DPoPBindingMismatch       (tokenveil.dpop; token bound to another key)
    └── ScanError                     (tokenveil.scan)
        ├── TargetUnreachable
        ├── BudgetExhausted
        └── UnsafeRequest             (a request the safety rules forbid without --active)

Subclasses that belong to one package live there (named in parentheses); every one keeps a
``code`` and descends from :class:`TokenveilError`.
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "ClaimMismatch",
    "ClaimsPolicyViolation",
    "ConfigurationError",
    "DPoPError",
    "ExpiredToken",
    "ForbiddenHeader",
    "InsufficientScope",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "KeyRingError",
    "MalformedToken",
    "NoActiveKey",
    "OAuthError",
    "RefreshTokenReuse",
    "RevokedToken",
    "StoreError",
    "StoreUnavailable",
    "TokenNotYetValid",
    "TokenveilError",
    "UnauthorizedClient",
    "UnknownKey",
    "UnsupportedGrantType",
]


class TokenveilError(Exception):
    """Root of every tokenveil error. ``code`` is stable and machine-readable."""

    code: str = "tokenveil_error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(TokenveilError):
    """The configuration is invalid."""

    code = "configuration_error"


class KeyRingError(TokenveilError):
    """The key ring cannot do what was asked."""

    code = "key_ring_error"


class NoActiveKey(KeyRingError):
    """There is no active signing key."""

    code = "no_active_key"


class UnknownKey(KeyRingError):
    """No key with that identifier."""

    code = "unknown_key"


class StoreError(TokenveilError):
    """A backing store failed."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """A backing store is unreachable; verification fails closed."""

    code = "store_unavailable"


class ClaimsPolicyViolation(TokenveilError):
    """A claim is not allowed in a token, or its value looks like personal data.

    ``claim`` names the claim and ``kind`` the PII kind found; the value is never kept.
    """

    code = "claims_policy_violation"

    def __init__(self, claim: str, reason: str, kind: str | None = None) -> None:
        self.claim = claim
        self.reason = reason
        self.kind = kind
        detail = f" ({kind})" if kind else ""
        super().__init__(f"claim {claim!r} refused: {reason}{detail}")


class InvalidToken(TokenveilError):
    """The token is not valid. ``reason`` says why, for logs and metrics; never for clients."""

    code = "invalid_token"
    reason: str = "invalid"

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(message)


class MalformedToken(InvalidToken):
    """The token is not a well-formed compact JWS."""

    reason = "malformed"


class ForbiddenHeader(InvalidToken):
    """The token header asks for something never honoured (alg none, jwk, jku, x5u, crit...)."""

    reason = "forbidden_header"


class BadSignature(InvalidToken):
    """The signature does not verify with the key named by ``kid``."""

    reason = "bad_signature"


class ExpiredToken(InvalidToken):
    """The token has expired."""

    reason = "expired"


class TokenNotYetValid(InvalidToken):
    """The token is not valid yet (nbf or iat in the future)."""

    reason = "not_yet_valid"


class ClaimMismatch(InvalidToken):
    """A required claim is missing or does not match (iss, aud, typ, ...)."""

    reason = "claim_mismatch"

    def __init__(self, claim: str) -> None:
        self.claim = claim
        super().__init__(f"claim {claim!r} missing or not accepted")


class RevokedToken(InvalidToken):
    """The token, its key or its issue time has been revoked."""

    reason = "revoked"


class InsufficientScope(TokenveilError):
    """The token is valid but lacks a required scope."""

    code = "insufficient_scope"

    def __init__(self, required: tuple[str, ...] = ()) -> None:
        self.required = required
        super().__init__("the token lacks a required scope")


class OAuthError(TokenveilError):
    """An RFC 6749 §5.2 error answer from the token endpoint."""

    code = "invalid_request"
    status_code = 400


class InvalidRequest(OAuthError):
    """The request is missing a parameter or is otherwise malformed."""

    code = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed."""

    code = "invalid_client"
    status_code = 401


class InvalidGrant(OAuthError):
    """The grant (credentials or refresh token) is invalid, expired or revoked."""

    code = "invalid_grant"


class RefreshTokenReuse(InvalidGrant):
    """A consumed refresh token was presented again; its family has been revoked."""

    def __init__(self, family_id: str) -> None:
        self.family_id = family_id
        super().__init__("refresh token reuse detected; the token family was revoked")


class UnauthorizedClient(OAuthError):
    """The client may not use this grant type."""

    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """The grant type is not supported."""

    code = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """The requested scope is invalid or exceeds what the client may ask for."""

    code = "invalid_scope"


class DPoPError(TokenveilError):
    """A DPoP proof is missing or invalid (RFC 9449)."""

    code = "invalid_dpop_proof"
