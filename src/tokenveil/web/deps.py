"""FastAPI dependencies: who is calling (:data:`get_principal`) and what they may do.

Built on ``Security`` and ``OAuth2PasswordBearer`` so the OpenAPI document shows the scheme and
each route's scopes. The verifier is taken from ``app.state.tokenveil`` (a :class:`TokenService`
or a :class:`tokenveil.tokens.RemoteVerifier`): anything with ``async verify_async(token)``.

Every token failure becomes one opaque 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` (RFC 6750 §3.1); the token and its claims are never echoed. The reason is
kept in ``request.state.tokenveil_reject_reason`` for metrics, never for the client.

DPoP (RFC 9449 §7): ``Authorization: DPoP <token>`` with a ``DPoP`` proof (``ath`` included) is
checked against the token's ``cnf.jkt``; a DPoP-bound token sent with the ``Bearer`` scheme is
refused (§7.1, a downgrade would make the binding worthless); ``Authenticator(require_dpop=True)``
refuses bearer tokens altogether. When the verifier has a :class:`tokenveil.defence.Defence`
(``TokenService`` does), each verified request is counted and fed to the token-use monitor,
whose verdict may still refuse it.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from fastapi import HTTPException, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from fastapi.security.base import SecurityBase

from tokenveil._principal import Principal
from tokenveil.dpop import DPOP_ALGORITHMS, DPoPBindingMismatch, DPoPError, UseDPoPNonce
from tokenveil.errors import InvalidToken, StoreUnavailable

if TYPE_CHECKING:
    from tokenveil.defence import Defence

__all__ = ["Authenticator", "TokenVerifier", "get_principal", "require_scopes"]


class TokenVerifier(Protocol):
    async def verify_async(self, token: str) -> Principal: ...


_GENERIC_401 = "The access token is missing, invalid or expired."
_GENERIC_403 = "The access token does not grant the scope this resource requires."
_ALGS = " ".join(sorted(DPOP_ALGORITHMS))


class Authenticator:
    """Builds the dependencies for one token endpoint and one set of documented scopes.

    ``cookie_name`` lets browser apps send the access token in a ``__Host-`` cookie instead of
    the ``Authorization`` header (how a token travels is independent of what it is).
    ``require_dpop`` refuses every token not presented with a valid DPoP proof (RFC 9449).
    """

    def __init__(
        self,
        *,
        token_url: str = "/oauth/token",
        scopes: Mapping[str, str] | None = None,
        cookie_name: str | None = None,
        require_dpop: bool = False,
    ) -> None:
        self.scheme = OAuth2PasswordBearer(
            tokenUrl=token_url, scopes=dict(scopes or {}), auto_error=False
        )
        self.cookie_name = cookie_name
        self.require_dpop = require_dpop
        self.principal = self._build()

    def require_scopes(self, *scopes: str) -> Any:
        """``Depends`` marker for a route that needs every one of ``scopes``."""
        return Security(self.principal, scopes=list(scopes))

    def _build(self) -> Callable[..., Awaitable[Principal]]:
        return _PrincipalScheme(self.scheme, self.cookie_name, self.require_dpop)


class _PrincipalScheme(SecurityBase):
    """The principal dependency *is* the OAuth2 security scheme, as FastAPI sees it.

    The OpenAPI document gets the same ``OAuth2PasswordBearer`` scheme and per-route scopes as
    with a ``Depends(OAuth2PasswordBearer(...))`` sub-dependency, but FastAPI resolves one
    dependency per request instead of two (the sub-dependency only re-read the header, which
    :func:`_credentials` parses anyway: Bearer or DPoP, or the cookie).
    """

    def __init__(
        self, scheme: OAuth2PasswordBearer, cookie_name: str | None, require_dpop: bool
    ) -> None:
        self.model = scheme.model
        self.scheme_name = scheme.scheme_name
        self.cookie_name = cookie_name
        self.require_dpop = require_dpop
        self.challenge = f'DPoP algs="{_ALGS}"' if require_dpop else "Bearer"

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Principal:
        require_dpop, challenge = self.require_dpop, self.challenge
        kind, token = _credentials(request, self.cookie_name)
        if not token:
            raise HTTPException(401, _GENERIC_401, headers={"WWW-Authenticate": challenge})
        verifier: TokenVerifier = request.app.state.tokenveil
        defence: Defence | None = getattr(verifier, "defence", None)
        try:
            found = await verifier.verify_async(token)
            if kind == "dpop":
                if defence is None:
                    raise DPoPBindingMismatch()
                proofs = request.headers.getlist("dpop")
                await defence.resource_proof(
                    proofs[0] if len(proofs) == 1 else None,
                    found,
                    method=request.method,
                    path=request.url.path,
                    token=token,
                )
            elif found.jkt is not None or require_dpop:
                # RFC 9449 §7.1: a bound token is only honoured with a proof of its key.
                raise DPoPBindingMismatch()
        except UseDPoPNonce as exc:
            _refuse(request, defence, "dpop_nonce", 'DPoP error="use_dpop_nonce"', exc.nonce)
        except DPoPError as exc:
            reason = f"dpop_{getattr(exc, 'reason', 'invalid')}"
            _refuse(request, defence, reason, f'DPoP error="{exc.code}", algs="{_ALGS}"')
        except InvalidToken as exc:
            _refuse(request, defence, exc.reason, f'{challenge} error="invalid_token"')
        except StoreUnavailable:
            # Invariant 9: fail closed, loudly, without saying more to the client.
            request.state.tokenveil_reject_reason = "store_unavailable"
            if defence is not None:
                defence.metrics.rejected("store_unavailable")
            raise HTTPException(503, "Service temporarily unavailable.") from None
        if defence is not None:
            defence.metrics.verified()
            if await defence.observe(found, request.scope):
                _refuse(request, defence, "monitor_deny", f'{challenge} error="invalid_token"')
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


def _credentials(request: Request, cookie_name: str | None) -> tuple[str, str | None]:
    """(scheme, token) from ``Authorization`` (RFC 6750 §2.1, RFC 9449 §7.1) or the cookie."""
    header = request.headers.get("authorization")
    if header:
        kind, _, token = header.partition(" ")
        kind = kind.lower()
        if kind in ("bearer", "dpop"):
            return kind, token.strip() or None
    if cookie_name is not None:
        return "bearer", request.cookies.get(cookie_name)
    return "bearer", None


def _refuse(
    request: Request,
    defence: "Defence | None",
    reason: str,
    challenge: str,
    nonce: str | None = None,
) -> NoReturn:
    request.state.tokenveil_reject_reason = reason
    if defence is not None:
        defence.metrics.rejected(reason)
    headers = {"WWW-Authenticate": challenge}
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce  # RFC 9449 §9
    raise HTTPException(401, _GENERIC_401, headers=headers)


_default = Authenticator()

#: The calling principal; 401 when the token is missing or invalid.
get_principal = _default.principal
#: ``require_scopes("orders:read")`` → a dependency that also demands those scopes (403 if not).
require_scopes = _default.require_scopes
