"""FastAPI dependencies: who is calling (:data:`get_principal`) and what they may do.

Built on ``Security`` and ``OAuth2PasswordBearer`` so the OpenAPI document shows the scheme and
each route's scopes. The verifier is taken from ``app.state.tokenveil`` (a :class:`TokenService`
or a :class:`tokenveil.tokens.RemoteVerifier`): anything with ``async verify_async(token)``.

Every token failure becomes one opaque 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` (RFC 6750 §3.1); the token and its claims are never echoed. The reason is
kept in ``request.state.tokenveil_reject_reason`` for metrics, never for the client.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from tokenveil._principal import Principal
from tokenveil.errors import InvalidToken, StoreUnavailable

__all__ = ["Authenticator", "TokenVerifier", "get_principal", "require_scopes"]


class TokenVerifier(Protocol):
    async def verify_async(self, token: str) -> Principal: ...


_GENERIC_401 = "The access token is missing, invalid or expired."
_GENERIC_403 = "The access token does not grant the scope this resource requires."


class Authenticator:
    """Builds the dependencies for one token endpoint and one set of documented scopes.

    ``cookie_name`` lets browser apps send the access token in a ``__Host-`` cookie instead of
    the ``Authorization`` header (how a token travels is independent of what it is).
    """

    def __init__(
        self,
        *,
        token_url: str = "/oauth/token",
        scopes: Mapping[str, str] | None = None,
        cookie_name: str | None = None,
    ) -> None:
        self.scheme = OAuth2PasswordBearer(
            tokenUrl=token_url, scopes=dict(scopes or {}), auto_error=False
        )
        self.cookie_name = cookie_name
        self.principal = self._build()

    def require_scopes(self, *scopes: str) -> Any:
        """``Depends`` marker for a route that needs every one of ``scopes``."""
        return Security(self.principal, scopes=list(scopes))

    def _build(self) -> Callable[..., Awaitable[Principal]]:
        scheme, cookie_name = self.scheme, self.cookie_name

        async def principal(
            request: Request,
            security_scopes: SecurityScopes,
            header_token: Annotated[str | None, Depends(scheme)],
        ) -> Principal:
            token = header_token
            if token is None and cookie_name is not None:
                token = request.cookies.get(cookie_name)
            if not token:
                raise HTTPException(401, _GENERIC_401, headers={"WWW-Authenticate": "Bearer"})
            verifier: TokenVerifier = request.app.state.tokenveil
            try:
                found = await verifier.verify_async(token)
            except InvalidToken as exc:
                request.state.tokenveil_reject_reason = exc.reason
                raise HTTPException(
                    401, _GENERIC_401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
                ) from None
            except StoreUnavailable:
                # Invariant 9: fail closed, loudly, without saying more to the client.
                request.state.tokenveil_reject_reason = "store_unavailable"
                raise HTTPException(503, "Service temporarily unavailable.") from None
            request.state.tokenveil_principal = found
            if not found.has_scopes(*security_scopes.scopes):
                needed = " ".join(security_scopes.scopes)
                raise HTTPException(
                    403,
                    _GENERIC_403,
                    headers={
                        "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'
                    },
                )
            return found

        return principal


_default = Authenticator()

#: The calling principal; 401 when the token is missing or invalid.
get_principal = _default.principal
#: ``require_scopes("orders:read")`` → a dependency that also demands those scopes (403 if not).
require_scopes = _default.require_scopes
