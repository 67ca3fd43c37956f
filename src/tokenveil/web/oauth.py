"""The authorization server's HTTP face: token, revocation, introspection, JWKS, metadata.

- ``POST /oauth/token``: ``password``, ``refresh_token`` and ``client_credentials`` grants
  (RFC 6749 §4.3, §6, §4.4); every answer carries ``Cache-Control: no-store`` (§5.1).
- ``POST /oauth/revoke``: RFC 7009.   ``POST /oauth/introspect``: RFC 7662, client-authenticated.
- ``GET /.well-known/jwks.json`` and ``GET /.well-known/oauth-authorization-server`` (RFC 8414).

Request bodies are read as forms by hand, so malformed input gets an RFC 6749 §5.2 error and
never FastAPI's 422, which would echo the submitted password.

DPoP (RFC 9449 §5): a ``DPoP`` proof header on a token request binds the access token
(``cnf.jkt``) and the refresh family to the proof's key; the answer says ``token_type: DPoP``.
A bad proof is ``400 invalid_dpop_proof``; a missing or stale server nonce is ``400
use_dpop_nonce`` with a fresh ``DPoP-Nonce`` (§8). A store outage is ``503`` (invariant 9).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tokenveil.dpop import DPoPError, UseDPoPNonce
from tokenveil.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    StoreUnavailable,
    UnsupportedGrantType,
)
from tokenveil.service import TokenResponse, TokenService
from tokenveil.store import Client

__all__ = ["REFRESH_COOKIE", "oauth_router"]

REFRESH_COOKIE = "__Host-tokenveil-refresh"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM_FIELD = 4096
_GRANTS = ("password", "refresh_token", "client_credentials")


def oauth_router() -> APIRouter:
    router = APIRouter(tags=["oauth"])

    @router.post("/oauth/token", summary="Token endpoint (RFC 6749)")
    async def token(request: Request) -> Response:
        service = _service(request)
        try:
            form = await _form(request)
            grant = form.get("grant_type", "")
            if grant not in _GRANTS:
                raise UnsupportedGrantType() if grant else InvalidRequest()
            jkt = await _proof_key(request, service)
            client = await _client(request, service, form)
            answer = await _grant(request, service, client, grant, form, jkt)
        except OAuthError as exc:
            return _oauth_error(exc)
        except DPoPError as exc:
            return _dpop_error(exc, service)
        except StoreUnavailable:
            return _unavailable()
        response = _token_response(answer, service)
        nonce = service.defence.nonce()
        if nonce is not None:
            response.headers["DPoP-Nonce"] = nonce  # §8: the next proof's nonce, ahead of time
        return response

    @router.post("/oauth/revoke", summary="Token revocation (RFC 7009)")
    async def revoke(request: Request) -> Response:
        service = _service(request)
        try:
            form = await _form(request)
            client = await _client(request, service, form)
            token = form.get("token") or request.cookies.get(REFRESH_COOKIE, "")
            if not token:
                raise InvalidRequest()
            await service.revoke_token(token, client)
        except OAuthError as exc:
            return _oauth_error(exc)
        except StoreUnavailable:
            return _unavailable()
        response = Response(status_code=200, headers=NO_STORE)
        response.delete_cookie(REFRESH_COOKIE, path="/", secure=True, httponly=True)
        return response

    @router.post("/oauth/introspect", summary="Token introspection (RFC 7662)")
    async def introspect(request: Request) -> Response:
        service = _service(request)
        try:
            form = await _form(request)
            # §2.1: the caller must authenticate; only confidential clients may introspect.
            await _client(request, service, form, require_secret=True)
            token = form.get("token", "")
            if not token:
                raise InvalidRequest()
            body = await service.introspect(token)
        except OAuthError as exc:
            return _oauth_error(exc)
        except StoreUnavailable:
            return _unavailable()
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


async def _client(
    request: Request, service: TokenService, form: dict[str, str], *, require_secret: bool = False
) -> Client:
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidClient() from exc
        basic_id, sep, basic_secret = decoded.partition(":")
        if not sep or (client_id and client_id != unquote(basic_id)):
            raise InvalidClient()
        client_id, secret = unquote(basic_id), unquote(basic_secret)
    return await service.authenticate_client(client_id, secret, require_secret=require_secret)


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


def _unavailable() -> Response:
    # Invariant 9: a store outage refuses, loudly in our logs, generically to the client.
    return JSONResponse(
        {"error": "temporarily_unavailable", "error_description": _DESCRIPTIONS["unavailable"]},
        status_code=503,
        headers={**NO_STORE, "Retry-After": "1"},
    )


def _oauth_error(exc: OAuthError) -> Response:
    headers = dict(NO_STORE)
    if isinstance(exc, InvalidClient):
        headers["WWW-Authenticate"] = 'Basic realm="tokenveil"'
    # RFC 6749 §5.2: the error code and a generic description; never the submitted values.
    return JSONResponse(
        {"error": exc.code, "error_description": _DESCRIPTIONS.get(exc.code, "Request refused.")},
        status_code=exc.status_code,
        headers=headers,
    )


_DESCRIPTIONS = {
    "invalid_request": "The request is missing a parameter or is malformed.",
    "invalid_client": "Client authentication failed.",
    "invalid_grant": "The credentials or the refresh token are invalid, expired or revoked.",
    "unauthorized_client": "This client may not use this grant type.",
    "unsupported_grant_type": "This grant type is not supported.",
    "invalid_scope": "The requested scope is invalid or not allowed.",
    "invalid_dpop_proof": "The DPoP proof is missing or invalid.",
    "use_dpop_nonce": "Retry with the nonce in the DPoP-Nonce header.",
    "unavailable": "The service is temporarily unavailable.",
}
