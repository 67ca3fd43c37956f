"""Transport and caching rules, as pure ASGI middleware, plus ``__Host-`` cookie helpers.

Security invariant 8: responses that carry tokens or PII are never cacheable; tokens are refused
in query strings and over plain HTTP.

* :class:`TransportSecurity`: refuses tokens in the query string with 400 (RFC 6750 §2.3 and
  §5.3, CWE-598) and scrubs them from ``scope["query_string"]`` so the server's access log never
  records them; refuses plain HTTP (CWE-319), redirecting safe GETs, unless the client is on
  loopback in development; honours ``X-Forwarded-Proto`` from configured proxies only; adds
  HSTS (RFC 6797), ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff`` and
  ``Cache-Control: no-store`` + ``Pragma: no-cache`` on sensitive responses (CWE-525).
* :class:`CSRFProtection`: for browser apps authenticated by cookie. It checks Fetch Metadata
  (``Sec-Fetch-Site``) and falls back to ``Origin``, as the OWASP CSRF cheat sheet recommends.
  Chosen over a double-submit token because it is stateless, needs no cooperation from the
  front-end code, and is not defeated by a sibling subdomain planting a cookie (a weakness of
  unsigned double-submit). With ``SameSite=Strict`` cookies this is a second, independent layer.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenveil.errors import ConfigurationError
from tokenveil.logs._processors import JWT_PATTERN
from tokenveil.web.errors import send_error

__all__ = [
    "DEFAULT_AUTH_COOKIE",
    "QUERY_TOKEN_PARAMS",
    "SENSITIVE_STATE_KEY",
    "TOKENVEIL_COOKIES",
    "CSRFProtection",
    "TransportSecurity",
    "clear_auth_cookie",
    "mark_sensitive",
    "set_auth_cookie",
]

DEFAULT_AUTH_COOKIE = "__Host-tokenveil"
#: Every cookie the token server may set: the access token and the refresh token (cookie mode,
#: ``tokenveil.web.oauth.REFRESH_COOKIE``; a test keeps the two in step).
TOKENVEIL_COOKIES: tuple[str, ...] = (DEFAULT_AUTH_COOKIE, "__Host-tokenveil-refresh")
#: Query parameters that carry a token (RFC 6750 §2.3, OpenID Connect ``id_token``, habits).
QUERY_TOKEN_PARAMS: frozenset[str] = frozenset(
    {"access_token", "token", "id_token", "refresh_token", "jwt"}
)
#: ``scope["state"]`` key a handler or the field policy sets when a response carries PII.
SENSITIVE_STATE_KEY = "tokenveil.sensitive"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Set on every response (HSTS only over HTTPS, RFC 6797 §7.2).
_PLAIN_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)
_NO_STORE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
)
#: Lower-cased names of the headers this middleware sets, which replace the handler's own.
_REPLACED = frozenset({b"strict-transport-security", b"referrer-policy", b"x-content-type-options"})
_REPLACED_NO_STORE = _REPLACED | {name for name, _ in _NO_STORE_HEADERS}
_LOOPBACK_NAMES = frozenset({"localhost", "testclient"})


def mark_sensitive(scope: Scope) -> None:
    """Ask :class:`TransportSecurity` to make this response ``no-store``."""
    _state(scope)[SENSITIVE_STATE_KEY] = True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


@functools.lru_cache(maxsize=1024)
def _is_loopback(host: str) -> bool:
    # Cached: parsing the peer address costs more than the rest of the transport check, and
    # a keep-alive client sends many requests from one address. Bounded, addresses only.
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cookie_names(scope: Scope) -> set[str]:
    raw = _header(scope, b"cookie")
    if not raw:
        return set()
    return {part.split("=", 1)[0].strip() for part in raw.split(";") if "=" in part}


class TransportSecurity:
    """Pure ASGI middleware; see the module docstring. Install it outermost."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        development: bool = False,
        trusted_proxies: Iterable[str] = (),
        redirect_http_get: bool = True,
        hsts_max_age: int = 2 * 365 * 24 * 3600,
        token_paths: Iterable[str] = ("/oauth/token", "/oauth/revoke", "/oauth/introspect"),
        query_token_params: Iterable[str] = QUERY_TOKEN_PARAMS,
        auth_cookie_names: Iterable[str] = TOKENVEIL_COOKIES,
        no_store: Literal["sensitive", "always"] = "sensitive",
    ) -> None:
        self.app = app
        self.development = development
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.redirect_http_get = redirect_http_get
        hsts = f"max-age={hsts_max_age}; includeSubDomains".encode()
        self._secure_headers = ((b"strict-transport-security", hsts), *_PLAIN_HEADERS)
        self.token_paths = tuple(token_paths)
        self.query_token_params = frozenset(p.lower() for p in query_token_params)
        self.auth_cookie_names = frozenset(auth_cookie_names)
        self.no_store = no_store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope["scheme"] = self._effective_scheme(scope)
        if self._has_query_token(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send_error(
                scope,
                receive,
                send,
                400,
                "invalid_request",
                description="Tokens are not accepted in the query string.",
            )
            return
        if scope["type"] == "http" and not self._secure_enough(scope):
            await self._refuse_plain_http(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        added = self._secure_headers if scope["scheme"] == "https" else _PLAIN_HEADERS
        sensitive = self.no_store == "always" or self._request_is_sensitive(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                no_store = (
                    sensitive
                    or bool(_state(scope).get(SENSITIVE_STATE_KEY))
                    or self._sets_auth_cookie(raw)
                )
                # One pass over the raw list: every header this middleware sets replaces
                # whatever the handler set. Cache-Control on a sensitive response included:
                # a shared cache must never keep a token or PII (RFC 9111 §5.2.2.5, CWE-525).
                replaced = _REPLACED_NO_STORE if no_store else _REPLACED
                headers = [item for item in raw if item[0].lower() not in replaced]
                headers.extend(added)
                if no_store:
                    headers.extend(_NO_STORE_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _effective_scheme(self, scope: Scope) -> str:
        scheme = str(scope.get("scheme", "http"))
        client = scope.get("client")
        if not self._proxies or not client:
            return scheme
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return scheme
        if not any(peer in network for network in self._proxies):
            return scheme  # only a configured proxy may tell us the original scheme
        forwarded = _header(scope, b"x-forwarded-proto")
        if forwarded:
            # The value the nearest (trusted) proxy appended is the last one.
            last = forwarded.split(",")[-1].strip().lower()
            if last in ("http", "https", "ws", "wss"):
                return "https" if last in ("https", "wss") and scope["type"] == "http" else last
        return scheme

    def _secure_enough(self, scope: Scope) -> bool:
        if scope["scheme"] in ("https", "wss"):
            return True
        client = scope.get("client")
        return self.development and client is not None and _is_loopback(str(client[0]))

    async def _refuse_plain_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        carries_credentials = _header(scope, b"authorization") is not None or bool(
            _cookie_names(scope) & self.auth_cookie_names
        )
        host = _header(scope, b"host")
        if (
            self.redirect_http_get
            and scope["method"] in ("GET", "HEAD")
            and not carries_credentials
            and host
        ):
            raw_path = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            query = bytes(scope.get("query_string", b"")).decode("latin-1")
            target = f"https://{host}{raw_path}" + (f"?{query}" if query else "")
            await RedirectResponse(target, status_code=308)(scope, receive, send)
            return
        await send_error(
            scope, receive, send, 400, "invalid_request", description="HTTPS is required."
        )

    def _has_query_token(self, scope: Scope) -> bool:
        raw = scope.get("query_string", b"")
        if not raw:
            return False
        pairs = parse_qsl(bytes(raw).decode("latin-1"), keep_blank_values=True)
        found = False
        cleaned: list[tuple[str, str]] = []
        for name, value in pairs:
            if name.lower() in self.query_token_params or JWT_PATTERN.match(value):
                found = True
                value = "REDACTED"
            cleaned.append((name, value))
        if found:
            # The server's access log reads this very scope after the response (CWE-532).
            scope["query_string"] = urlencode(cleaned).encode("latin-1")
        return found

    def _request_is_sensitive(self, scope: Scope) -> bool:
        if _header(scope, b"authorization") is not None:
            return True
        if _cookie_names(scope) & self.auth_cookie_names:
            return True
        path = str(scope.get("path", ""))
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.token_paths)

    def _sets_auth_cookie(self, raw: list[tuple[bytes, bytes]]) -> bool:
        for name, value in raw:
            if name.lower() == b"set-cookie":
                cookie = value.decode("latin-1").split("=", 1)[0].strip()
                if cookie in self.auth_cookie_names:
                    return True
        return False


def _check_host_prefix(name: str) -> None:
    # RFC 6265bis §4.1.3.2: __Host- cookies are Secure, Path=/, without Domain: they cannot
    # be set or overwritten by a sibling subdomain or over plain HTTP.
    if not name.startswith("__Host-"):
        raise ConfigurationError("auth cookies must use the __Host- prefix")


def set_auth_cookie(
    response: Response, value: str, *, max_age: int, name: str = DEFAULT_AUTH_COOKIE
) -> None:
    """Set a token cookie: ``__Host-``, Secure, HttpOnly, SameSite=Strict, Path=/."""
    _check_host_prefix(name)
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def clear_auth_cookie(response: Response, *, name: str = DEFAULT_AUTH_COOKIE) -> None:
    """Expire the token cookie (same attributes, or browsers keep the old one)."""
    _check_host_prefix(name)
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


class CSRFProtection:
    """Refuses cross-site state-changing requests that carry the auth cookie (CWE-352).

    Requests authenticated by an ``Authorization`` header only are not affected: a browser
    never adds that header cross-site on its own.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth_cookie_names: Iterable[str] = TOKENVEIL_COOKIES,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.auth_cookie_names = frozenset(auth_cookie_names)
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in _SAFE_METHODS
            or not (_cookie_names(scope) & self.auth_cookie_names)
            or self._same_origin(scope)
        ):
            await self.app(scope, receive, send)
            return
        await send_error(
            scope, receive, send, 403, "forbidden", description="Cross-site request refused."
        )

    def _same_origin(self, scope: Scope) -> bool:
        site = _header(scope, b"sec-fetch-site")
        if site is not None:
            # Fetch Metadata: the browser itself says where the request comes from.
            return site.lower() in ("same-origin", "none")
        origin = _header(scope, b"origin")
        if origin is None or origin == "null":
            return False  # every current browser sends Origin on a cross-site POST
        host = _header(scope, b"host")
        own = f"{scope.get('scheme', 'https')}://{host}".lower() if host else None
        normalized = origin.rstrip("/").lower()
        return normalized == own or normalized in self.allowed_origins


def _state(scope: Scope) -> MutableMapping[str, Any]:
    state: MutableMapping[str, Any] = scope.setdefault("state", {})
    return state
