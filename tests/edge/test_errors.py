"""Errors reveal nothing: one format, RFC 6750/6749 shapes, no echo of input, no raw traceback."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel

from tokenveil import errors, logs
from tokenveil.web.errors import ErrorBoundary, install_error_handlers


class Signup(BaseModel):
    email: str
    age: int


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(ErrorBoundary)

    @app.get("/expired")
    async def expired() -> None:
        raise errors.ExpiredToken()

    @app.get("/missing")
    async def missing() -> None:
        raise errors.InvalidToken(reason="missing")

    @app.get("/scope")
    async def scope() -> None:
        raise errors.InsufficientScope(("pii:email:read",))

    @app.post("/token")
    async def token() -> None:
        raise errors.RefreshTokenReuse("fam-1")

    @app.post("/client")
    async def client() -> None:
        raise errors.InvalidClient()

    @app.get("/store")
    async def store() -> None:
        raise errors.StoreUnavailable()

    @app.post("/signup")
    async def signup(body: Signup) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/http/{item}")
    async def http_error(item: str) -> None:
        raise HTTPException(404, detail=f"no item {item}", headers={"X-Debug": item})

    @app.get("/dependency-403")
    async def dependency_403() -> None:
        raise HTTPException(
            403, "no", headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
        )

    router = APIRouter(prefix="/v1")

    @router.get("/crash/{secret}")
    async def crash(secret: str) -> None:
        raise RuntimeError(f"db said: {secret}")

    app.include_router(router)
    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app())
    return httpx.AsyncClient(transport=transport, base_url="https://api.test")


async def test_every_invalid_token_reason_is_one_opaque_401(client: httpx.AsyncClient) -> None:
    """An expired token gets the same generic 401 as any invalid one, with an RFC 6750 header."""
    response = await client.get("/expired")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_token"
    assert "expired" not in body["error_description"].lower().replace("or expired", "")
    assert set(body) == {"error", "error_description", "correlation_id"}
    assert response.headers["www-authenticate"] == 'Bearer realm="tokenveil", error="invalid_token"'
    assert response.headers["cache-control"] == "no-store"


async def test_missing_token_challenge_has_no_error_code(client: httpx.AsyncClient) -> None:
    """RFC 6750 §3.1: a request without credentials gets a bare Bearer challenge."""
    response = await client.get("/missing")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="tokenveil"'


async def test_insufficient_scope_is_403_naming_the_scope(client: httpx.AsyncClient) -> None:
    """RFC 6750 §3.1 insufficient_scope: 403 with error and scope attributes."""
    response = await client.get("/scope")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="pii:email:read"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "insufficient_scope"


async def test_oauth_errors_use_rfc6749_bodies(client: httpx.AsyncClient) -> None:
    """Refresh reuse is a plain invalid_grant (no family id); invalid_client is 401 with Basic."""
    reuse = await client.post("/token")
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "fam-1" not in reuse.text
    assert "reuse" not in reuse.text
    bad_client = await client.post("/client")
    assert bad_client.status_code == 401
    assert bad_client.headers["www-authenticate"].startswith("Basic")
    assert bad_client.headers["pragma"] == "no-cache"


async def test_store_unavailable_fails_closed_with_503(client: httpx.AsyncClient) -> None:
    """Security invariant 9: an unreachable store is a 503, not a pass."""
    response = await client.get("/store")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_validation_errors_keep_locations_and_types_only(client: httpx.AsyncClient) -> None:
    """FastAPI's 422 no longer echoes input, msg or ctx; client-chosen keys are hidden."""
    canary = "zq.canary.422@leak.example"
    response = await client.post("/signup", json={"email": 12, "age": canary, canary: 1})
    assert response.status_code == 422
    assert canary not in response.text
    errors_ = response.json()["errors"]
    assert {"loc": ["body", "age"], "type": "int_parsing"} in errors_
    assert all(set(e) == {"loc", "type"} for e in errors_)
    bad_json = await client.post(
        "/signup",
        content=b'{"email": "' + canary.encode(),
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 422
    assert canary not in bad_json.text


async def test_http_exception_detail_and_headers_are_not_echoed(client: httpx.AsyncClient) -> None:
    """HTTPException keeps its status; detail and arbitrary headers never reach the client."""
    canary = "canary-item-7781"
    response = await client.get(f"/http/{canary}")
    assert response.status_code == 404
    assert canary not in response.text
    assert canary not in str(response.headers)
    assert response.json()["error_description"] == "Not Found."
    assert response.json()["error"] == "not_found"
    unknown = await client.get("/nowhere")
    assert unknown.json()["error"] == "not_found"


async def test_unhandled_exception_is_generic_500_with_scrubbed_log(
    client: httpx.AsyncClient,
) -> None:
    """A crash is a generic 500; the log line has the correlation id but not the message."""
    canary = "canary-secret-5150"
    logger = logging.getLogger("tokenveil.web")
    logger.setLevel(logging.INFO)
    with logs.capture_logs() as captured:
        response = await client.get(f"/v1/crash/{canary}")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "server_error"
    assert canary not in response.text
    # httpx is the test's own client logging its request line; the server side is what counts.
    text = "\n".join(entry.text for entry in captured if entry.logger != "httpx")
    assert canary not in text
    assert body["correlation_id"] in text
    assert "RuntimeError: [message dropped]" in text
    assert "GET /v1/crash/{secret}" in text  # the template with its router prefix


async def test_http_exception_body_matches_its_bearer_challenge(client: httpx.AsyncClient) -> None:
    """A dependency's 403 with error="insufficient_scope" gets the same code in the body."""
    response = await client.get("/dependency-403")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


async def test_crash_after_the_response_started_sends_nothing_more() -> None:
    """A stream failing midway is cut short: no second start, no error text, nothing raised."""
    from collections.abc import AsyncIterator

    from fastapi.responses import StreamingResponse
    from starlette.types import Message

    app = FastAPI()
    app.add_middleware(ErrorBoundary)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first,"
            raise RuntimeError("canary-stream-secret")

        return StreamingResponse(body(), media_type="text/plain")

    sent: list[Message] = []
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected; cancelled when the app ends
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/stream",
        "raw_path": b"/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("api.test", 443),
    }
    # The boundary swallows it: the server must not log it raw.
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    bodies = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
    assert [m["status"] for m in starts] == [200]
    assert b"".join(bodies) == b"first,"
