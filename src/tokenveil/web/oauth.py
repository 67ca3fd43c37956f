"""The authorization server's HTTP face: token, revocation, introspection, JWKS, metadata.

- ``POST /oauth/token``: ``password``, ``refresh_token`` and ``client_credentials`` grants
  (RFC 6749 §4.3, §6, §4.4); every answer carries ``Cache-Control: no-store`` (§5.1).
- ``POST /oauth/revoke``: RFC 7009.   ``POST /oauth/introspect``: RFC 7662, client-authenticated.
- ``GET /.well-known/jwks.json`` and ``GET /.well-known/oauth-authorization-server`` (RFC 8414).

Request bodies are read as forms by hand, so malformed input gets an RFC 6749 §5.2 error and
never FastAPI's 422, which would echo the submitted password.

Client authentication (RFC 6749 §2.3): HTTP Basic (``client_secret_basic``, id and secret
form-urlencoded inside, §2.3.1) or ``client_id``/``client_secret`` in the form, never both: a
Basic header with a form ``client_secret``, or with a different form ``client_id``, is ``400
invalid_request``. A client id must match ``[A-Za-z0-9._~-]{1,64}`` and not start with ``usr_``
(user subjects do). Unknown id, malformed id or Basic header, public client presenting or lacking
a required secret, wrong secret: one code path, one constant-time comparison, one answer, ``401
invalid_client`` with ``WWW-Authenticate: Basic`` (§5.2). Secrets are stored as SHA-256 hashes;
an argon2id hash from an earlier version is replaced after its first successful check. Client
authentication and the rate limiter live in :mod:`tokenveil.web._client_auth`.

Order on ``/oauth/token``: per-address rate limit, form, client authentication, per-client rate
limit, DPoP proof, grant. Failed client authentications and failed password grants also spend a
failed-authentication budget per address (and per submitted client id or username, existing
or not, the username counted only under a keyed pseudonym), reserved before any secret is
checked or any client or user looked up, and given back on success
(:class:`~tokenveil.web._client_auth.FailureBudget`): past it, ``429 slow_down`` comes before
the check runs, whatever the client id or username. The per-id and per-username budgets refuse
only addresses that have failed themselves in the window, so failures sent from elsewhere
cannot lock a client or a user out. The proof is checked only for an authenticated client, so
an anonymous caller cannot fill the proof replay cache. Rate limits (:class:`TokenRateLimits`,
fixed windows, in process or in Redis with the scaled store) answer ``429 slow_down`` with
``Retry-After``; revocation and introspection spend the same per-address budget before reading
anything.

Introspection (RFC 7662) answers only confidential clients registered with ``may_introspect``;
another authenticated client gets ``403 unauthorized_client``. Revocation (RFC 7009) is open to
every authenticated client, for its own tokens.

DPoP (RFC 9449 §5): a ``DPoP`` proof header on a token request binds the access token
(``cnf.jkt``) and the refresh family to the proof's key; the answer says ``token_type: DPoP``.
A bad proof is ``400 invalid_dpop_proof``; a missing or stale server nonce is ``400
use_dpop_nonce`` with a fresh ``DPoP-Nonce`` (§8). A store outage, or any other store failure,
is ``503 temporarily_unavailable`` with a generic description (invariant 9), never a 500 or a
traceback.

No answer and no log line holds a submitted secret, password, token or address.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tokenveil.dpop import DPoPError, UseDPoPNonce
from tokenveil.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    OAuthError,
    StoreError,
    StoreUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from tokenveil.service import TokenResponse, TokenService
from tokenveil.store import Client
from tokenveil.store._ratelimit import RateCounter
from tokenveil.web._client_auth import (
    FailureBudget,
    RateLimited,
    RateLimiter,
    TokenRateLimits,
    authenticate,
)

__all__ = ["REFRESH_COOKIE", "TokenRateLimits", "oauth_router"]

log = logging.getLogger("tokenveil.web.oauth")

REFRESH_COOKIE = "__Host-tokenveil-refresh"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM_FIELD = 4096
_GRANTS = ("password", "refresh_token", "client_credentials")
Clock = Callable[[], float]


class _IntrospectionDenied(UnauthorizedClient):
    """This client is not registered to introspect tokens."""

    status_code = 403


def oauth_router(
    *,
    rate_limits: TokenRateLimits | None = None,
    rate_counter: RateCounter | None = None,
    clock: Clock = time.time,
) -> APIRouter:
    """The endpoints. ``rate_counter`` overrides where counts live (default: Redis with the
    scaled store, else this process); ``clock`` gives the rate windows' wall-clock time."""
    router = APIRouter(tags=["oauth"])
    limiter = RateLimiter(rate_limits or TokenRateLimits(), rate_counter, clock)

    @router.post("/oauth/token", summary="Token endpoint (RFC 6749)")
    async def token(request: Request) -> Response:
        service = _service(request)
        try:
            await limiter.address(request, service)
            form = await _form(request)
            grant = form.get("grant_type", "")
            if grant not in _GRANTS:
                raise UnsupportedGrantType() if grant else InvalidRequest()
            failures = limiter.failures(request, service)
            client = await authenticate(request, service, form, failures=failures)
            await limiter.client(service, client.client_id)
            # Only now, for an authenticated client: a proof verified earlier would let anyone
            # fill the replay cache (RFC 9449 §11.1) without holding any credential.
            jkt = await _proof_key(request, service)
            answer = await _grant(request, service, client, grant, form, jkt, failures)
        except OAuthError as exc:
            return _oauth_error(exc)
        except DPoPError as exc:
            return _dpop_error(exc, service)
        except StoreError as exc:
            return _store_failed(exc)
        response = _token_response(answer, service)
        nonce = service.defence.nonce()
        if nonce is not None:
            response.headers["DPoP-Nonce"] = nonce  # §8: the next proof's nonce, ahead of time
        return response

    @router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
    async def revoke(request: Request) -> Response:
        service = _service(request)
        try:
            await limiter.address(request, service)
            form = await _form(request)
            failures = limiter.failures(request, service)
            client = await authenticate(request, service, form, failures=failures)
            token = form.get("token") or request.cookies.get(REFRESH_COOKIE, "")
            if not token:
                raise InvalidRequest()
            await service.revoke_token(token, client)
        except OAuthError as exc:
            return _oauth_error(exc)
        except StoreError as exc:
            return _store_failed(exc)
        response = Response(status_code=200, headers=NO_STORE)
        response.delete_cookie(REFRESH_COOKIE, path="/", secure=True, httponly=True)
        return response

    @router.post("/oauth/introspect", summary="Token introspection (RFC 7662)")
    async def introspect(request: Request) -> Response:
        service = _service(request)
        try:
            await limiter.address(request, service)
            form = await _form(request)
            # §2.1: the caller must authenticate; only confidential clients registered for it
            # may introspect (§4: otherwise anyone holding a client could scan for live tokens).
            failures = limiter.failures(request, service)
            client = await authenticate(
                request, service, form, require_secret=True, failures=failures
            )
            if not client.may_introspect:
                raise _IntrospectionDenied()
            token = form.get("token", "")
            if not token:
                raise InvalidRequest()
            body = await service.introspect(token)
        except OAuthError as exc:
            return _oauth_error(exc)
        except StoreError as exc:
            return _store_failed(exc)
        return JSONResponse(body, headers=NO_STORE)

    @router.get("/.well-known/jwks.json", summary="Public signing keys (RFC 7517)")
    async def jwks(request: Request) -> Response:
        # Short enough that a revoked key leaves caches quickly; the next key is published a
        # whole rotation period before it signs, so caching never hides a key that is needed.
        return JSONResponse(
            _service(request).keyring.jwks(),
            headers={"Cache-Control": "public, max-age=300, must-revalidate"},
        )

    @router.get("/.well-known/oauth-authorization-server", summary="Metadata (RFC 8414)")
    async def metadata(request: Request) -> Response:
        service = _service(request)
        issuer = service.settings.issuer.rstrip("/")
        return JSONResponse(
            {
                "issuer": service.settings.issuer,
                "token_endpoint": f"{issuer}/oauth/token",
                "revocation_endpoint": f"{issuer}/oauth/revoke",
                "introspection_endpoint": f"{issuer}/oauth/introspect",
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "grant_types_supported": list(_GRANTS),
                "response_types_supported": [],
                "token_endpoint_auth_methods_supported": [
                    "none",
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "revocation_endpoint_auth_methods_supported": [
                    "none",
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "RS256", "PS256"],
            },
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router


def _service(request: Request) -> TokenService:
    service = request.app.state.tokenveil
    assert isinstance(service, TokenService)
    return service


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception as exc:  # any parse failure is the client's: a generic 400
        raise InvalidRequest() from exc
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        # RFC 6749 §3.2: parameters must not be repeated.
        if not isinstance(value, str) or key in values or len(value) > _MAX_FORM_FIELD:
            raise InvalidRequest()
        values[key] = value
    return values


async def _proof_key(request: Request, service: TokenService) -> str | None:
    """The thumbprint of the request's verified DPoP proof, or None when there is no proof."""
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        raise InvalidRequest()  # RFC 9449 §4.3 check 1: exactly one DPoP header
    # htu is checked against settings.issuer + path, the URL as clients see it, so a
    # TLS-terminating proxy in front does not break every proof (§4.3 check 9).
    proof = await service.defence.token_proof(proofs[0] if proofs else None)
    return proof.jkt if proof is not None else None


async def _grant(
    request: Request,
    service: TokenService,
    client: Client,
    grant: str,
    form: dict[str, str],
    jkt: str | None,
    failures: FailureBudget,
) -> TokenResponse:
    scope = form.get("scope")
    if grant == "password":
        username, password = form.get("username"), form.get("password")
        if username is None or password is None:
            raise InvalidRequest()
        # The password check is argon2 (for unknown users too): check the budgets first, of the
        # address and of the submitted username, whether that user exists or not.
        await failures.reserve(username=username)
        try:
            return await service.password_grant(client, username, password, scope, jkt=jkt)
        except InvalidGrant:  # wrong username or password: the failure is counted
            await failures.failed()
            raise
    if grant == "refresh_token":
        refresh = form.get("refresh_token") or request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise InvalidRequest()
        return await service.refresh_grant(client, refresh, scope, jkt=jkt)
    return await service.client_credentials_grant(client, scope, jkt=jkt)


def _token_response(answer: TokenResponse, service: TokenService) -> Response:
    body: dict[str, Any] = answer.as_dict()
    cookie_mode = service.settings.refresh_cookie and answer.refresh_token is not None
    if cookie_mode:
        # The refresh token never reaches JavaScript: it travels in a __Host- cookie only.
        del body["refresh_token"]
    response = JSONResponse(body, headers=NO_STORE)
    if cookie_mode and answer.refresh_token is not None:
        response.set_cookie(
            REFRESH_COOKIE,
            answer.refresh_token,
            max_age=service.settings.refresh_idle_ttl,
            path="/",  # the __Host- prefix requires Path=/ (RFC 6265bis §4.1.3.2)
            secure=True,
            httponly=True,
            samesite="strict",
        )
    return response


def _dpop_error(exc: DPoPError, service: TokenService) -> Response:
    # RFC 9449 §5 and §8: 400 with invalid_dpop_proof or use_dpop_nonce; the reason word stays
    # in our logs and metrics, the body says nothing about which check failed.
    headers = dict(NO_STORE)
    code = "invalid_dpop_proof"
    if isinstance(exc, UseDPoPNonce):
        code = "use_dpop_nonce"
        if exc.nonce is not None:
            headers["DPoP-Nonce"] = exc.nonce
    service.defence.metrics.rejected(f"dpop_{getattr(exc, 'reason', 'invalid')}")
    return JSONResponse(
        {"error": code, "error_description": _DESCRIPTIONS[code]}, status_code=400, headers=headers
    )


def _store_failed(exc: StoreError) -> Response:
    # Invariant 9: a store outage refuses, loudly in our logs, generically to the client. Any
    # other store failure (a refused write) is answered the same way, as the app's error
    # handlers do, so the router alone never lets it become a 500 with a traceback. The type
    # only in the log: a driver message may quote a value (invariant 6).
    if not isinstance(exc, StoreUnavailable):
        log.error("store error on an OAuth endpoint (%s)", type(exc).__name__)
    return JSONResponse(
        {"error": "temporarily_unavailable", "error_description": _DESCRIPTIONS["unavailable"]},
        status_code=503,
        headers={**NO_STORE, "Retry-After": "1"},
    )


def _oauth_error(exc: OAuthError) -> Response:
    headers = dict(NO_STORE)
    if isinstance(exc, InvalidClient):
        # §5.2: 401 with the Basic challenge; RFC 9110 §15.5.2 wants a challenge on every 401.
        headers["WWW-Authenticate"] = 'Basic realm="tokenveil"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))  # RFC 6585 §4
    # RFC 6749 §5.2: the error code and a generic description; never the submitted values.
    key = "introspection_denied" if isinstance(exc, _IntrospectionDenied) else exc.code
    return JSONResponse(
        {"error": exc.code, "error_description": _DESCRIPTIONS.get(key, "Request refused.")},
        status_code=exc.status_code,
        headers=headers,
    )


_DESCRIPTIONS = {
    "invalid_request": "The request is missing a parameter or is malformed.",
    "invalid_client": "Client authentication failed.",
    "invalid_grant": "The credentials or the refresh token are invalid, expired or revoked.",
    "unauthorized_client": "This client may not use this grant type.",
    "introspection_denied": "This client may not introspect tokens.",
    "unsupported_grant_type": "This grant type is not supported.",
    "invalid_scope": "The requested scope is invalid or not allowed.",
    "invalid_dpop_proof": "The DPoP proof is missing or invalid.",
    "use_dpop_nonce": "Retry with the nonce in the DPoP-Nonce header.",
    "slow_down": "Too many requests; retry after the time in the Retry-After header.",
    "unavailable": "The service is temporarily unavailable.",
}
