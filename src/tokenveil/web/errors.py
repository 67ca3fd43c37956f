"""Errors that reveal nothing: one body format for the whole app, fixed generic texts.

Every error body is ``{"error": code, "error_description": text, "correlation_id": id}``.
The description is chosen from a fixed table, never from an exception message or the input
(security invariants 6 and 10; CWE-209, CWE-215). What went wrong is logged with the
correlation id, redacted.

* :class:`tokenveil.errors.InvalidToken` → 401, ``WWW-Authenticate: Bearer error="invalid_token"``
  (RFC 6750 §3.1), whatever the reason: the reason goes to the log only.
* :class:`tokenveil.errors.InsufficientScope` → 403, ``error="insufficient_scope"``.
* :class:`tokenveil.errors.OAuthError` → its status with an RFC 6749 §5.2 body.
* :class:`tokenveil.errors.StoreError` → 503: fail closed (security invariant 9).
* FastAPI's 422 → field locations and error types only (pydantic's ``input``, ``ctx`` and
  ``msg`` echo the input).
* Starlette ``HTTPException`` → its status with the generic HTTP phrase.
* anything else → 500 from :class:`ErrorBoundary`, which never lets a traceback reach the
  server's own logger.
"""

from __future__ import annotations

import http
import logging
import re
import secrets
import weakref
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenveil.errors import (
    ClaimsPolicyViolation,
    DPoPError,
    InsufficientScope,
    InvalidClient,
    InvalidToken,
    OAuthError,
    StoreError,
    TokenveilError,
)
from tokenveil.logs import RedactionChain, default_chain, scrub_exception

__all__ = [
    "ErrorBoundary",
    "correlation_id",
    "error_response",
    "install_error_handlers",
    "send_error",
]

logger = logging.getLogger("tokenveil.web")

_STATE_KEY = "tokenveil.correlation_id"
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_CHALLENGE_ERROR = re.compile(r'error="([a-z_]+)"')
_SAFE_LOC = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
#: Headers an HTTPException may carry through; anything else could echo input.
_PASSTHROUGH_HEADERS = frozenset({"www-authenticate", "allow", "retry-after"})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: The only texts a client ever reads. RFC 6749 §5.2 codes first.
_DESCRIPTIONS: Mapping[str, str] = {
    "invalid_request": "The request is invalid.",
    "invalid_client": "Client authentication failed.",
    "invalid_grant": "The grant is invalid, expired or revoked.",
    "unauthorized_client": "The client may not use this grant type.",
    "unsupported_grant_type": "The grant type is not supported.",
    "invalid_scope": "The requested scope is invalid.",
    "invalid_token": "The access token is missing, invalid or expired.",
    "insufficient_scope": "The access token lacks a required scope.",
    "invalid_dpop_proof": "The DPoP proof is missing or invalid.",
    "temporarily_unavailable": "The service is temporarily unavailable.",
    "server_error": "The server could not complete the request.",
}


def correlation_id(scope: Scope) -> str:
    """The request's correlation id, created on first use and kept in ``scope["state"]``.

    A well-formed incoming ``X-Request-ID`` is reused, so ids match across a proxy's logs.
    """
    state: MutableMapping[str, Any] = scope.setdefault("state", {})
    current: object = state.get(_STATE_KEY)
    if isinstance(current, str):
        return current
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _INCOMING_ID.match(candidate):
                state[_STATE_KEY] = candidate
                return candidate
    new = secrets.token_hex(8)
    state[_STATE_KEY] = new
    return new


def error_response(
    scope: Scope,
    status_code: int,
    error: str,
    *,
    headers: Mapping[str, str] | None = None,
    description: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> JSONResponse:
    """The one error format. ``description`` defaults to the fixed text for ``error``."""
    cid = correlation_id(scope)
    body: dict[str, object] = {
        "error": error,
        "error_description": description or _DESCRIPTIONS.get(error) or _phrase(status_code),
        "correlation_id": cid,
    }
    if extra:
        body.update(extra)
    all_headers = {"X-Correlation-ID": cid, **_NO_STORE, **(headers or {})}
    return JSONResponse(body, status_code=status_code, headers=all_headers)


async def send_error(
    scope: Scope,
    receive: Receive,
    send: Send,
    status_code: int,
    error: str,
    *,
    headers: Mapping[str, str] | None = None,
    description: str | None = None,
) -> None:
    """:func:`error_response`, sent from a pure ASGI middleware."""
    response = error_response(scope, status_code, error, headers=headers, description=description)
    await response(scope, receive, send)


def _phrase(status_code: int) -> str:
    try:
        return f"{http.HTTPStatus(status_code).phrase}."
    except ValueError:
        return "The request failed."


def _bearer(error: str | None, **params: str) -> str:
    # RFC 6750 §3: no error attribute when the request carried no credentials at all.
    parts = ['realm="tokenveil"']
    if error:
        parts.append(f'error="{error}"')
    parts.extend(f'{k}="{v}"' for k, v in params.items())
    return "Bearer " + ", ".join(parts)


def _route_name(scope: Scope) -> str:
    # The route template, never the raw path: /users/{id} rather than /users/alice@example.com.
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return f"{scope.get('method', '')} [unrouted]"
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if routes is not None:
        path = _full_template(app, routes, route, path)
    return f"{scope.get('method', '')} {path}"


_templates: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()


def _full_template(app: Any, routes: Any, route: object, path: str) -> str:
    """The template with its router prefix: FastAPI puts the unprefixed route in the scope."""
    table = _templates.get(app)
    if table is None or id(route) not in table:
        table = {
            id(context.original_route): context.path
            for context in iter_route_contexts(routes)
            if context.path is not None
        }
        table.setdefault(id(route), path)
        _templates[app] = table
    return table[id(route)]


async def _invalid_token(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidToken)
    reason = exc.reason
    logger.info(
        "token refused on %s: reason=%s correlation_id=%s",
        _route_name(request.scope),
        reason,
        correlation_id(request.scope),
    )
    header = _bearer(None if reason == "missing" else "invalid_token")
    return error_response(request.scope, 401, "invalid_token", headers={"WWW-Authenticate": header})


async def _dpop_error(request: Request, exc: Exception) -> Response:
    logger.info(
        "DPoP proof refused on %s correlation_id=%s",
        _route_name(request.scope),
        correlation_id(request.scope),
    )
    # RFC 9449 §7.1: the DPoP scheme's own challenge.
    header = 'DPoP error="invalid_dpop_proof", algs="ES256 EdDSA RS256 PS256"'
    return error_response(
        request.scope, 401, "invalid_dpop_proof", headers={"WWW-Authenticate": header}
    )


async def _insufficient_scope(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InsufficientScope)
    # Scope names are public API vocabulary, not secrets (RFC 6750 §3 ``scope`` attribute).
    params = {"scope": " ".join(exc.required)} if exc.required else {}
    header = _bearer("insufficient_scope", **params)
    return error_response(
        request.scope, 403, "insufficient_scope", headers={"WWW-Authenticate": header}
    )


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    logger.info(
        "token endpoint error %s (%s) correlation_id=%s",
        exc.code,
        type(exc).__name__,
        correlation_id(request.scope),
    )
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidClient):
        # RFC 6749 §5.2: a 401 for a failed client authentication names the scheme.
        headers["WWW-Authenticate"] = 'Basic realm="tokenveil"'
    return error_response(request.scope, exc.status_code, exc.code, headers=headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    logger.warning(
        "store unavailable (%s) on %s correlation_id=%s: failing closed",
        type(exc).__name__,
        _route_name(request.scope),
        correlation_id(request.scope),
    )
    return error_response(
        request.scope, 503, "temporarily_unavailable", headers={"Retry-After": "5"}
    )


async def _tokenveil_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenveilError)
    detail = ""
    if isinstance(exc, ClaimsPolicyViolation):
        # Claim name and PII kind only; the value was never kept (errors.py contract).
        detail = f" claim={exc.claim} kind={exc.kind}"
    logger.error(
        "%s (%s) on %s%s correlation_id=%s",
        exc.code,
        type(exc).__name__,
        _route_name(request.scope),
        detail,
        correlation_id(request.scope),
    )
    return error_response(request.scope, 500, "server_error")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [_safe_loc(part) for part in err.get("loc", ())], "type": str(err.get("type"))}
        for err in exc.errors()[:50]
    ]
    return error_response(request.scope, 422, "invalid_request", extra={"errors": errors})


def _safe_loc(part: object) -> str | int:
    # A location can be a dict key chosen by the client (``{"alice@example.com": 1}``).
    if isinstance(part, int):
        return part
    if isinstance(part, str) and _SAFE_LOC.match(part):
        return part
    return "*"


_HTTP_CODES: Mapping[int, str] = {
    400: "invalid_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "temporarily_unavailable",
}


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in _PASSTHROUGH_HEADERS}
    if status == 401 and not any(k.lower() == "www-authenticate" for k in headers):
        headers["WWW-Authenticate"] = _bearer(None)  # RFC 7235 §3.1: a 401 carries a challenge
    if status < 400 or status in (204, 304):
        return Response(status_code=status, headers=headers)
    code = _HTTP_CODES.get(status, "server_error" if status >= 500 else "invalid_request")
    challenge = next((v for k, v in headers.items() if k.lower() == "www-authenticate"), "")
    named = _CHALLENGE_ERROR.search(challenge)
    if named and named.group(1) in _DESCRIPTIONS:
        code = named.group(1)  # the body agrees with the RFC 6750 challenge it travels with
    # The detail is never sent: handlers put ids, input and messages in it.
    description = _DESCRIPTIONS.get(code) or _phrase(status)
    return error_response(request.scope, status, code, headers=headers, description=description)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app`` (more specific classes win, by MRO)."""
    app.add_exception_handler(InvalidToken, _invalid_token)
    app.add_exception_handler(DPoPError, _dpop_error)
    app.add_exception_handler(InsufficientScope, _insufficient_scope)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(TokenveilError, _tokenveil_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)


class ErrorBoundary:
    """Pure ASGI: any unhandled exception becomes a generic 500 and one redacted log line.

    The exception is not re-raised: Starlette's ServerErrorMiddleware and the server would log
    its message and traceback raw. Messages are dropped from the logged traceback by default:
    ``KeyError('alice')`` holds PII no detector can recognise.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        chain: RedactionChain | None = None,
        exception_messages: Literal["redact", "drop"] = "drop",
    ) -> None:
        self.app = app
        self._chain = chain
        self._messages: Literal["redact", "drop"] = exception_messages

    def _redactor(self) -> RedactionChain:
        if self._chain is None:
            try:
                self._chain = default_chain()
            except TokenveilError:
                self._chain = default_chain(pii=False)
        return self._chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            cid = correlation_id(scope)
            trace = scrub_exception(exc, self._redactor(), messages=self._messages)
            logger.error(
                "unhandled %s on %s correlation_id=%s\n%s",
                type(exc).__name__,
                _route_name(scope),
                cid,
                trace,
            )
            if not started:
                await send_error(scope, receive, send, 500, "server_error")
