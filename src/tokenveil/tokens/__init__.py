"""Access tokens (RFC 9068) and refresh-token families (RFC 9700 §4.14).

Safe surface: :class:`TokenIssuer` issues, :class:`AccessTokenVerifier` verifies (returns a
:class:`tokenveil.Principal` or raises :class:`tokenveil.errors.InvalidToken`), and
:class:`RefreshTokens` rotates refresh tokens with reuse detection.
"""

from tokenveil.tokens._claims import ACCESS_TOKEN_CLAIMS, ClaimsPolicy
from tokenveil.tokens._issue import IssuedToken, TokenIssuer
from tokenveil.tokens._jwks import JWKSKeys, RemoteVerifier
from tokenveil.tokens._refresh import (
    REFRESH_TOKEN_PATTERN,
    NewRefreshToken,
    RefreshTokens,
    hash_refresh_token,
)
from tokenveil.tokens._verify import (
    AccessTokenVerifier,
    KeyResolver,
    RevocationView,
    UnknownSigningKey,
)

__all__ = [
    "ACCESS_TOKEN_CLAIMS",
    "REFRESH_TOKEN_PATTERN",
    "AccessTokenVerifier",
    "ClaimsPolicy",
    "IssuedToken",
    "JWKSKeys",
    "KeyResolver",
    "NewRefreshToken",
    "RefreshTokens",
    "RemoteVerifier",
    "RevocationView",
    "TokenIssuer",
    "UnknownSigningKey",
    "hash_refresh_token",
]
