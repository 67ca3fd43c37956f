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
an argon2id hash from an earlier version is replaced after its first successful check.

Order on ``/oauth/token``: per-address rate limit, form, client authentication, per-client rate
limit, DPoP proof, grant. The proof is checked only for an authenticated client, so an anonymous
caller cannot fill the proof replay cache. Rate limits (:class:`TokenRateLimits`, fixed windows,
in process or in Redis with the scaled store) answer ``429 slow_down`` with ``Retry-After``;
revocation and introspection spend the same per-address budget before reading anything.

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

import base64
import dataclasses
import ipaddress
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tokenveil._passwords import (
    client_secret_needs_rehash,
    hash_client_secret,
    verify_client_secret,
)
from tokenveil.dpop import DPoPError, UseDPoPNonce
from tokenveil.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    StoreError,
    StoreUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from tokenveil.monitor import client_ip
from tokenveil.service import TokenResponse, TokenService
from tokenveil.store import Client
from tokenveil.store._protocols import valid_client_id
from tokenveil.store._ratelimit import MemoryRateCounter, RateCounter
from tokenveil.store.scaled import ScaledStore

__all__ = ["REFRESH_COOKIE", "TokenRateLimits", "oauth_router"]

log = logging.getLogger("tokenveil.web.oauth")

REFRESH_COOKIE = "__Host-tokenveil-refresh"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM_FIELD = 4096
_MAX_BASIC = 4096
_GRANTS = ("password", "refresh_token", "client_credentials")
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class TokenRateLimits:
    """Token endpoint requests allowed per fixed window of ``window`` seconds.

    ``per_ip`` counts every request from one client address (an IPv6 address by its /64, which
    one host usually holds whole), before anything else is read; ``per_client`` counts the
    requests of one authenticated client, so an anonymous caller cannot spend a confidential
    client's budget. ``None`` turns a limit off. Behind a reverse proxy, set the server's
    ``trusted_proxies``, or every caller shares the proxy's address.
    """

    window: float = 10.0
    per_ip: int | None = 200
    per_client: int | None = 1000


class _RateLimited(OAuthError):
    """Too many requests; retry after the window ends."""

    # Registered for token endpoint answers in the IANA OAuth Extensions Error Registry
    # (RFC 8628 §3.5); RFC 6749 itself defines no rate-limit error.
    code = "slow_down"
    status_code = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__()


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
    limits = rate_limits or TokenRateLimits()
    counters: weakref.WeakKeyDictionary[TokenService, RateCounter] = weakref.WeakKeyDictionary()

    def counter(service: TokenService) -> RateCounter:
        if rate_counter is not None:
            return rate_counter
        found = counters.get(service)
        if found is None:
            found = _default_counter(service, limits.window)
            counters[service] = found
        return found

    async def limit(service: TokenService, kind: str, key: str, allowed: int | None) -> None:
        if allowed is None:
            return
        hit = await counter(service).hit(f"{kind}:{key}", now=clock())
        if hit.count > allowed:
            if hit.count == allowed + 1:  # once per key and window: a flood is not a log flood
                log.warning("token endpoint rate limit reached (per %s)", kind)
            raise _RateLimited(hit.retry_after)

    async def limit_address(request: Request, service: TokenService) -> None:
        # One budget per address across the three endpoints that take client credentials:
        # revocation and introspection guess secrets as well as the token endpoint does.
        address = _address_key(request, service)
        if address is not None:
            await limit(service, "ip", address, limits.per_ip)

    @router.post("/oauth/token", summary="Token endpoint (RFC 6749)")
    async def token(request: Request) -> Response:
        service = _service(request)
        try:
            await limit_address(request, service)
            form = await _form(request)
            grant = form.get("grant_type", "")
            if grant not in _GRANTS:
                raise UnsupportedGrantType() if grant else InvalidRequest()
            client = await _client(request, service, form)
            await limit(service, "client", client.client_id, limits.per_client)
            # Only now, for an authenticated client: a proof verified earlier would let anyone
            # fill the replay cache (RFC 9449 §11.1) without holding any credential.
            jkt = await _proof_key(request, service)
            answer = await _grant(request, service, client, grant, form, jkt)
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
            await limit_address(request, service)
            form = await _form(request)
            client = await _client(request, service, form)
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
            await limit_address(request, service)
            form = await _form(request)
            # §2.1: the caller must authenticate; only confidential clients registered for it
            # may introspect (§4: otherwise anyone holding a client could scan for live tokens).
            client = await _client(request, service, form, require_secret=True)
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


def _default_counter(service: TokenService, window: float) -> RateCounter:
    if isinstance(service.store, ScaledStore):
        from tokenveil.store.redis import RedisRateCounter

        return RedisRateCounter(service.store.redis, window, prefix=service.store.prefix)
    return MemoryRateCounter(window)


def _address_key(request: Request, service: TokenService) -> str | None:
    """The caller's address as a rate-limit key; an IPv6 address stands for its /64."""
    peer = request.client.host if request.client else None
    found = client_ip(request.scope, peer, service.settings.trusted_proxies)
    if found is None:
        return None
    try:
        ip = ipaddress.ip_address(found)
    except ValueError:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """The client id and secret, from HTTP Basic or from the form (RFC 6749 §2.3.1)."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return client_id, secret or None
    if secret is not None:
        raise InvalidRequest()  # §2.3: a client MUST NOT use more than one method per request
    value = value.strip()
    try:
        if len(value) > _MAX_BASIC:
            raise ValueError
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # bad base64, bad UTF-8, non-ASCII header: say nothing of which
        raise InvalidClient() from None
    basic_id, sep, basic_secret = decoded.partition(":")
    if not sep:
        raise InvalidClient()
    # §2.3.1: both are form-urlencoded before being joined, so "+" is a space and ":" is %3A.
    basic_id, basic_secret = unquote_plus(basic_id), unquote_plus(basic_secret)
    if client_id is not None and client_id != basic_id:
        raise InvalidRequest()  # two different client ids in one request
    return basic_id, basic_secret or None


async def _client(
    request: Request, service: TokenService, form: dict[str, str], *, require_secret: bool = False
) -> Client:
    client_id, secret = _credentials(request, form)
    return await _authenticate_client(service, client_id, secret, require_secret=require_secret)


async def _authenticate_client(
    service: TokenService,
    client_id: str | None,
    secret: str | None,
    *,
    require_secret: bool = False,
) -> Client:
    """RFC 6749 §2.3 and §5.2: the client, or :class:`InvalidClient`, the same for every failure.

    Unknown or malformed id, public client with a secret (or without one when ``require_secret``),
    confidential client without or with a wrong secret: each runs one hash and one constant-time
    comparison and raises the same error.
    """
    known = client_id is not None and valid_client_id(client_id)
    client = await service.store.get_client(client_id) if known and client_id else None
    stored = client.secret_hash if client is not None else None
    matched = await verify_client_secret(stored, secret or "")
    if client is None:
        raise InvalidClient()
    if stored is None:
        if secret is not None or require_secret:
            raise InvalidClient()
        return client
    if secret is None or not matched:
        raise InvalidClient()
    if client_secret_needs_rehash(stored):
        await _rehash(service, client, secret)
    return client


async def _rehash(service: TokenService, client: Client, secret: str) -> None:
    """Replace an earlier version's argon2id hash by the SHA-256 one, once; best effort."""
    upgraded = dataclasses.replace(client, secret_hash=hash_client_secret(secret))
    try:
        await service.store.update_client(upgraded)
    except StoreError:
        log.warning("could not upgrade a client secret hash; will retry on its next use")


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
) -> TokenResponse:
    scope = form.get("scope")
    if grant == "password":
        username, password = form.get("username"), form.get("password")
        if username is None or password is None:
            raise InvalidRequest()
        return await service.password_grant(client, username, password, scope, jkt=jkt)
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
    if isinstance(exc, _RateLimited):
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
