"""Transport rules: no token in a URL, no plain HTTP, no cacheable sensitive response, no CSRF."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from starlette.types import Message

from tokenveil.errors import ConfigurationError
from tokenveil.web.transport import (
    CSRFProtection,
    TransportSecurity,
    clear_auth_cookie,
    mark_sensitive,
    set_auth_cookie,
)


def _app(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/public")
    async def public(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "public, max-age=600"
        return {"ok": "yes"}

    @app.get("/pii")
    async def pii(request: Request) -> dict[str, str]:
        mark_sensitive(request.scope)
        return {"ok": "yes"}

    @app.post("/oauth/token")
    async def token() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/login")
    async def login(response: Response) -> dict[str, str]:
        set_auth_cookie(response, "opaque-session-value", max_age=600)
        return {"ok": "yes"}

    @app.post("/transfer")
    async def transfer() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(CSRFProtection)
    app.add_middleware(TransportSecurity, **options)
    return app


def _client(
    base_url: str = "https://api.test", client: tuple[str, int] = ("203.0.113.5", 40000), **kw: Any
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(**kw), client=client), base_url=base_url
    )


@pytest.mark.parametrize("name", ["access_token", "token", "id_token", "refresh_token", "jwt"])
async def test_token_query_parameters_are_refused(name: str, opaque_canary: str) -> None:
    """CWE-598: a token in the query string is a 400, and is not echoed."""
    async with _client() as client:
        response = await client.get(f"/public?{name}={opaque_canary}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert opaque_canary not in response.text


async def test_jwt_looking_value_under_any_name_is_refused(jwt_canary: str) -> None:
    """A JWT-shaped value is refused whatever the parameter is called."""
    async with _client() as client:
        response = await client.get("/public", params={"q": jwt_canary})
    assert response.status_code == 400


async def test_refused_query_token_is_scrubbed_from_the_scope(opaque_canary: str) -> None:
    """The scope the server logs from no longer holds the token (uvicorn's access log reads it)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/public",
        "raw_path": b"/public",
        "query_string": f"page=2&access_token={opaque_canary}".encode(),
        "headers": [],
        "client": ("203.0.113.5", 1),
    }
    await TransportSecurity(_app())(scope, receive, send)
    assert sent[0]["status"] == 400
    assert scope["query_string"] == b"page=2&access_token=REDACTED"


async def test_plain_http_get_is_redirected_and_post_refused() -> None:
    """CWE-319: GET over HTTP gets a 308 to HTTPS; a POST is refused, never served."""
    async with _client(base_url="http://api.test") as client:
        get = await client.get("/public?page=2")
        post = await client.post("/transfer")
        with_token = await client.get("/public", headers={"Authorization": "Bearer abc"})
    assert get.status_code == 308
    assert get.headers["location"] == "https://api.test/public?page=2"
    assert post.status_code == 400
    assert with_token.status_code == 400


async def test_plain_http_is_allowed_on_loopback_only_in_development() -> None:
    """Loopback HTTP works in development mode, and only there."""
    async with _client("http://127.0.0.1", ("127.0.0.1", 5000), development=True) as client:
        assert (await client.post("/transfer")).status_code == 200
    async with _client("http://127.0.0.1", ("127.0.0.1", 5000)) as client:
        assert (await client.post("/transfer")).status_code == 400
    async with _client("http://api.test", ("203.0.113.5", 5000), development=True) as client:
        assert (await client.post("/transfer")).status_code == 400


async def test_forwarded_proto_is_trusted_only_from_configured_proxies() -> None:
    """X-Forwarded-Proto counts only when the peer is a configured proxy."""
    headers = {"X-Forwarded-Proto": "https"}
    async with _client(
        "http://api.test", ("10.0.0.7", 1), trusted_proxies=["10.0.0.0/24"]
    ) as client:
        trusted = await client.post("/transfer", headers=headers)
    async with _client(
        "http://api.test", ("198.51.100.9", 1), trusted_proxies=["10.0.0.0/24"]
    ) as client:
        spoofed = await client.post("/transfer", headers=headers)
    assert trusted.status_code == 200
    assert "strict-transport-security" in trusted.headers
    assert spoofed.status_code == 400


async def test_security_headers_and_no_store_on_authenticated_responses() -> None:
    """HSTS, no-referrer, nosniff always; no-store replaces the handler's caching when authed."""
    async with _client() as client:
        anonymous = await client.get("/public")
        authed = await client.get("/public", headers={"Authorization": "Bearer abc"})
        token = await client.post("/oauth/token")
        marked = await client.get("/pii")
    assert anonymous.headers["strict-transport-security"].startswith("max-age=63072000")
    assert anonymous.headers["referrer-policy"] == "no-referrer"
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    assert anonymous.headers["cache-control"] == "public, max-age=600"
    for response in (authed, token, marked):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


async def test_auth_cookie_is_host_prefixed_secure_httponly_strict() -> None:
    """set_auth_cookie: __Host-, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain."""
    async with _client() as client:
        response = await client.post("/login", headers={"Sec-Fetch-Site": "same-origin"})
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("__host-tokenveil=")
    for attribute in ("secure", "httponly", "samesite=strict", "path=/"):
        assert attribute in cookie
    assert "domain" not in cookie
    assert response.headers["cache-control"] == "no-store"


def test_cookie_helpers_refuse_names_without_host_prefix() -> None:
    """A cookie without __Host- could be planted by a subdomain: refused at configuration."""
    with pytest.raises(ConfigurationError):
        set_auth_cookie(Response(), "v", max_age=1, name="session")
    response = Response()
    clear_auth_cookie(response)
    assert "max-age=0" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://api.test"}, 200),
        ({}, 403),
    ],
)
async def test_csrf_check_on_cookie_authenticated_writes(
    headers: dict[str, str], status: int
) -> None:
    """Cookie-authenticated POSTs must come from the same origin (Fetch Metadata, then Origin)."""
    cookies = {"Cookie": "__Host-tokenveil=opaque"}
    async with _client() as client:
        response = await client.post("/transfer", headers={**cookies, **headers})
    assert response.status_code == status


async def test_csrf_check_ignores_header_auth_and_safe_methods() -> None:
    """Bearer-header requests and GETs are not subject to the cookie CSRF check."""
    async with _client() as client:
        bearer = await client.post(
            "/transfer", headers={"Authorization": "Bearer x", "Sec-Fetch-Site": "cross-site"}
        )
        get = await client.get(
            "/public", headers={"Cookie": "__Host-tokenveil=o", "Sec-Fetch-Site": "cross-site"}
        )
    assert bearer.status_code == 200
    assert get.status_code == 200


def test_default_cookie_names_cover_the_token_servers_cookies() -> None:
    """CSRF and no-store cover the refresh cookie the token endpoint sets in cookie mode."""
    from tokenveil.web.oauth import REFRESH_COOKIE
    from tokenveil.web.transport import DEFAULT_AUTH_COOKIE, TOKENVEIL_COOKIES

    assert set(TOKENVEIL_COOKIES) == {DEFAULT_AUTH_COOKIE, REFRESH_COOKIE}


async def test_refresh_cookie_write_from_another_site_is_refused() -> None:
    """A cross-site POST carrying only the refresh cookie is a CSRF attempt too."""
    async with _client() as client:
        response = await client.post(
            "/transfer",
            headers={"Cookie": "__Host-tokenveil-refresh=o", "Sec-Fetch-Site": "cross-site"},
        )
    assert response.status_code == 403


async def test_websocket_with_token_in_query_is_closed_with_policy_violation(
    opaque_canary: str,
) -> None:
    """A WebSocket handshake carrying ?access_token= is closed (1008) before the app sees it."""
    sent: list[Message] = []
    reached = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "scheme": "wss",
        "path": "/ws",
        "query_string": f"access_token={opaque_canary}".encode(),
        "headers": [],
        "client": ("203.0.113.5", 1),
    }
    await TransportSecurity(app)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert not reached
