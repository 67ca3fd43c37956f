"""The scan plan's safety promises, checked on every request of a real scan (in process)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form, HTTPException, Request, Response

from tests.scan import vulnapp
from tests.scan._recorded import SECRET, token
from tokenveil.scan import ScanError, Scanner, ScanOptions
from tokenveil.scan._jose import b64url_decode, decode_unverified

TARGET = "http://127.0.0.1:1"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Serves an ASGI app in process and remembers every request it was handed."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


async def _scan(app: Any, **options: Any) -> tuple[RecordingTransport, Scanner]:
    transport = RecordingTransport(app)
    async with httpx.AsyncClient(transport=transport) as client:
        scanner = Scanner(ScanOptions(url=TARGET, rate=0, **options), client=client)
        await scanner.run()
    return transport, scanner


LOGIN = {
    "login_url": f"{TARGET}/token",
    "username": "alice",
    "password": "alice-pass",
    "second_username": "bob",
    "second_password": "bob-pass",
}


async def test_safe_scan_sends_only_get_plus_the_configured_login() -> None:
    """Without --active: GET everywhere, POST only to the login URL it was given."""
    transport, _ = await _scan(vulnapp.app, max_requests=1000, **LOGIN)
    unsafe = {(r.method, r.url.path) for r in transport.requests if r.method != "GET"}
    assert unsafe == {("POST", "/token")}
    assert not any(r.url.path == "/logout" for r in transport.requests)


async def test_active_scan_may_post_to_logout() -> None:
    """With --active the logout route is exercised (TV-VAL-010 needs it)."""
    transport, _ = await _scan(vulnapp.app, max_requests=1000, active=True, **LOGIN)
    assert ("POST", "/logout") in {(r.method, r.url.path) for r in transport.requests}


async def test_every_request_stays_on_the_target_origin() -> None:
    """Metadata naming another host is read but never followed; nothing leaves 127.0.0.1:1."""
    app = FastAPI()

    @app.get("/.well-known/oauth-authorization-server")
    def metadata() -> dict[str, str]:
        return {
            "jwks_uri": "https://keys.example.test/jwks.json",
            "revocation_endpoint": "https://auth.example.test/revoke",
        }

    transport, scanner = await _scan(
        app, token=vulnapp._issue(vulnapp.USERS["alice"], "a", 60), active=True
    )
    assert {(r.url.host, r.url.port) for r in transport.requests} == {("127.0.0.1", 1)}
    assert scanner.target.jwks is None


async def test_budget_is_an_exact_upper_bound() -> None:
    """--max-requests 40: exactly 40 requests reach the app and the result is partial."""
    transport, scanner = await _scan(vulnapp.app, max_requests=40, **LOGIN)
    assert len(transport.requests) == 40
    result = scanner.result()
    assert result.complete is False
    assert result.requests == 40


def test_non_http_targets_are_refused_up_front() -> None:
    """Only http:// and https:// URLs can be scanned."""
    for url in ("ftp://127.0.0.1/", "127.0.0.1:8000", "file:///etc/passwd"):
        with pytest.raises(ScanError, match="http:// or https://"):
            Scanner(ScanOptions(url=url))


def test_options_repr_hides_passwords_and_tokens() -> None:
    """ScanOptions may be logged; its repr never shows a secret."""
    text = repr(
        ScanOptions(
            url=TARGET,
            token="tok-secret-value",
            password="pw-secret-value",
            second_password="pw2-secret-value",
        )
    )
    assert "secret-value" not in text


async def test_a_tight_budget_is_shared_between_phases() -> None:
    """With 120 requests, query-string and error probes still run; notes say what was cut."""
    _, scanner = await _scan(vulnapp.app, max_requests=120, **LOGIN)
    result = scanner.result()
    ids = {f.id for f in result.findings}
    assert {"TV-TRN-003", "TV-PII-004"} <= ids
    assert any(i.startswith("TV-VAL-") for i in ids)  # forging ran, on fewer endpoints
    assert any(n.startswith("budget: forged tokens sent to") for n in result.notes)
    assert result.requests <= 120


def _verified(tok: str) -> dict[str, Any] | None:
    """The claims of an HS256 token signed with the tests' key, else None (a sound verifier)."""
    signing_input, _, sig = tok.rpartition(".")
    expected = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    try:
        valid = bool(sig) and hmac.compare_digest(expected, b64url_decode(sig))
    except ValueError:
        return None
    decoded = decode_unverified(tok) if valid else None
    return decoded[1] if decoded is not None else None


def _cookie_app() -> FastAPI:
    """An API that authenticates by a session cookie only, with one unverified route."""
    app = FastAPI()

    @app.post("/session")
    def login(response: Response, username: str = Form(), password: str = Form()) -> dict[str, str]:
        response.set_cookie(
            "__Host-session", token({"sub": username}), httponly=True, secure=True, samesite="lax"
        )
        return {"status": "ok"}

    def cookie(request: Request) -> str:
        value = request.cookies.get("__Host-session")
        if not value:
            raise HTTPException(401, "unauthorized")
        return value

    @app.get("/me")
    def me(request: Request) -> dict[str, str]:
        if _verified(cookie(request)) is None:
            raise HTTPException(401, "unauthorized")
        return {"status": "you"}

    @app.get("/profile")
    def profile(request: Request) -> dict[str, str]:
        cookie(request)  # planted: the cookie's presence is all that is checked
        return {"status": "profile"}

    return app


async def test_cookie_authenticated_apis_are_attacked_through_the_cookie() -> None:
    """Cookie-only login: every token travels as that cookie; the unverified route is found."""
    transport, scanner = await _scan(
        _cookie_app(), login_url=f"{TARGET}/session", username="alice", password="pw"
    )
    assert scanner.target.auth_cookie == "__Host-session"
    me = [r for r in transport.requests if r.url.path == "/me"]
    assert any("__Host-session=" in r.headers.get("cookie", "") for r in me)
    assert not any("authorization" in r.headers for r in me)
    ids = {(f.id, f.endpoint) for f in scanner.result().findings}
    assert ("TV-VAL-001", "GET /profile") in ids
    assert not any(fid == "TV-VAL-001" and ep == "GET /me" for fid, ep in ids)


def _orders_app() -> FastAPI:
    """Each user lists their own orders; reading one by id never checks who owns it."""
    orders = {
        "alice": [{"order_id": "o-100", "item": "tea"}],
        "bob": [{"order_id": "o-200", "item": "lamp", "ship_to": "bob@example.org"}],
    }
    by_id = {o["order_id"]: o for user in orders.values() for o in user}
    app = FastAPI()

    @app.post("/token")
    def login(username: str = Form(), password: str = Form()) -> dict[str, str]:
        return {"access_token": token({"sub": username})}

    def owner(request: Request) -> str:
        claims = _verified(request.headers.get("authorization", "").removeprefix("Bearer "))
        if claims is None:
            raise HTTPException(401, "unauthorized")
        return str(claims["sub"])

    @app.get("/orders")
    def mine(request: Request) -> list[dict[str, str]]:
        return orders[owner(request)]

    @app.get("/orders/{order_id}")
    def one(order_id: str, request: Request) -> dict[str, str]:
        owner(request)  # planted: authenticated, never authorised
        if order_id not in by_id:
            raise HTTPException(404, "no such order")
        return by_id[order_id]

    return app


async def test_bola_uses_ids_harvested_from_the_second_users_lists() -> None:
    """Bob's order id comes from his /orders list; Alice's token reads it: TV-PII-006."""
    transport, scanner = await _scan(
        _orders_app(),
        login_url=f"{TARGET}/token",
        username="alice",
        password="a",
        second_username="bob",
        second_password="b",
    )
    cross = [r for r in transport.requests if r.url.path == "/orders/o-200"]
    assert len(cross) == 2  # bob's own read, then alice's
    (finding,) = [f for f in scanner.result().findings if f.id == "TV-PII-006"]
    assert finding.endpoint == "GET /orders/{order_id}"
    assert "EMAIL" in finding.evidence[0]


def _refresh_app(*, detect_reuse: bool) -> FastAPI:
    """Rotates refresh tokens; only the sound variant remembers the consumed ones."""
    consumed: set[str] = set()
    counter = iter(range(1_000_000))
    app = FastAPI()

    @app.post("/token")
    def grant(grant_type: str = Form(), refresh_token: str = Form("")) -> dict[str, str]:
        if grant_type == "refresh_token":
            if detect_reuse and refresh_token in consumed:
                raise HTTPException(400, "invalid_grant")
            consumed.add(refresh_token)
        return {"access_token": token({"sub": "1"}), "refresh_token": f"rt-{next(counter)}" * 3}

    @app.get("/me")
    def me(request: Request) -> dict[str, str]:
        if _verified(request.headers.get("authorization", "").removeprefix("Bearer ")) is None:
            raise HTTPException(401, "unauthorized")
        return {"status": "you"}

    return app


@pytest.mark.parametrize("detect_reuse", [False, True])
async def test_refresh_token_reuse_is_probed_with_active_only(detect_reuse: bool) -> None:
    """--active presents the consumed refresh token again; only the unsound server is flagged."""
    login = {"login_url": f"{TARGET}/token", "username": "u", "password": "p"}
    transport, scanner = await _scan(_refresh_app(detect_reuse=detect_reuse), active=True, **login)
    refreshes = [r for r in transport.requests if b"grant_type=refresh_token" in r.content]
    assert len(refreshes) == 2  # the refresh, then the reuse
    ids = {f.id for f in scanner.result().findings}
    assert ("TV-VAL-013" in ids) is not detect_reuse
    passive, _ = await _scan(_refresh_app(detect_reuse=False), **login)
    assert len([r for r in passive.requests if b"grant_type=refresh_token" in r.content]) == 1
