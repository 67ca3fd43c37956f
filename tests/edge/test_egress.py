"""Egress filter: undeclared PII is monitored, masked or blocked; secrets are always masked."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from tokenveil import logs
from tokenveil._principal import Principal
from tokenveil.store._protocols import SecurityEvent
from tokenveil.web.egress import EgressFilter, EgressMode, egress_mode
from tokenveil.web.fields import PII, FieldPolicy, Present, use_field_policy

EMAIL = "zq.canary.egress@leak-test.example"
CARD = "4111 1111 1111 1111"
REFRESH = "tvr_" + "Qm9vX2Nhbmlhcnk" * 3


class Contact(BaseModel):
    id: str
    email: Annotated[str, PII("EMAIL", reveal="pii:email:read")]
    notes: str


def _app(
    mode: EgressMode = "mask", events: list[SecurityEvent] | None = None, **kw: Any
) -> FastAPI:
    app = FastAPI()

    async def audit(event: SecurityEvent) -> None:
        assert events is not None
        events.append(event)

    use_field_policy(app, FieldPolicy(audit=audit))

    @app.get("/notes")
    async def notes() -> dict[str, Any]:
        return {"id": 7, "notes": f"call back {EMAIL} today", "items": [{"card": CARD}]}

    @app.get("/monitored", openapi_extra=egress_mode("monitor"))
    async def monitored() -> dict[str, str]:
        return {"notes": f"mail {EMAIL}"}

    @app.get("/debug/session")
    async def session(jwt: str) -> dict[str, str]:
        return {"echo": f"Bearer {jwt}", "refresh": REFRESH, "state": "ok"}

    @app.post("/oauth/token")
    async def token(request: Request) -> dict[str, str]:
        body = await request.json()
        return {"access_token": body["jwt"], "refresh_token": REFRESH, "token_type": "Bearer"}

    @app.get("/contact")
    async def contact(request: Request, present: Present) -> Any:
        principal = Principal("agent", frozenset({"pii:email:read"}), "c", "j", 0, 1)
        request.state.tokenveil_principal = principal
        return await present(Contact(id="c1", email=EMAIL, notes=f"alt {EMAIL}"))

    @app.get("/headers")
    async def headers(jwt: str) -> Response:
        return Response(
            b"{}",
            media_type="application/json",
            headers={
                "X-Debug-User": EMAIL,
                "Location": f"/next?session={jwt}",
                "Set-Cookie": f"__Host-tokenveil={jwt}; Secure; HttpOnly; Path=/",
            },
        )

    @app.get("/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse(f"contact: {EMAIL}\n")

    @app.get("/binary")
    async def binary() -> Response:
        return Response(EMAIL.encode(), media_type="application/octet-stream")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"rows":['
            for i in range(400):
                row = json.dumps({"i": i, "note": f"mail {EMAIL}", "pad": "x" * 100})
                # Cut every row in the middle of the email, across two chunks.
                middle = row.index("@")
                yield row[:middle].encode()
                yield (row[middle:] + ("," if i < 399 else "")).encode()
            yield b"]}"

        return StreamingResponse(chunks(), media_type="application/json")

    app.add_middleware(EgressFilter, mode=mode, audit=audit, **kw)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.test")


async def test_mask_mode_masks_undeclared_pii_and_fixes_content_length() -> None:
    """mask: the email in free text and the card number are replaced; JSON stays valid."""
    async with _client(_app("mask", [])) as client:
        response = await client.get("/notes")
    assert EMAIL not in response.text
    assert "4111" not in response.text
    body = response.json()
    assert body["notes"] == "call back [EMAIL] today"
    assert body["items"] == [{"card": "[CREDIT_CARD]"}]
    assert int(response.headers["content-length"]) == len(response.content)


async def test_monitor_mode_reports_kind_and_path_never_the_value() -> None:
    """monitor: the body is untouched; log and security event name kind and JSON path only."""
    events: list[SecurityEvent] = []
    logging.getLogger("tokenveil.egress").setLevel(logging.INFO)
    with logs.capture_logs() as captured:
        async with _client(_app("monitor", events)) as client:
            response = await client.get("/notes")
    assert response.json()["notes"] == f"call back {EMAIL} today"
    lines = [e.text for e in captured if e.logger == "tokenveil.egress"]
    assert any("EMAIL at $.notes on GET /notes" in line for line in lines)
    assert all(EMAIL not in line for line in lines)
    kinds = {(e.kind, e.details["kind"], e.details["path"]) for e in events}
    assert ("pii.egress", "EMAIL", "$.notes") in kinds
    assert ("pii.egress", "CREDIT_CARD", "$.items[0].card") in kinds
    assert all(EMAIL not in repr(e) for e in events)


async def test_block_mode_withholds_the_response() -> None:
    """block: a generic 500 replaces any response carrying undeclared PII."""
    async with _client(_app("block", [])) as client:
        response = await client.get("/notes")
    assert response.status_code == 500
    assert EMAIL not in response.text
    assert response.json()["error"] == "server_error"


async def test_route_overrides_by_marker_and_by_prefix() -> None:
    """openapi_extra=egress_mode(...) and the prefix map both override the app mode."""
    async with _client(_app("block", [], routes={"/text": "mask"})) as client:
        monitored = await client.get("/monitored")
        text = await client.get("/text")
    assert monitored.status_code == 200
    assert EMAIL in monitored.text
    assert text.text == "contact: [EMAIL]\n"


async def test_tokens_are_masked_in_every_mode_except_on_the_token_endpoint(
    jwt_canary: str,
) -> None:
    """JWTs, bearer credentials and refresh tokens never leave outside /oauth/token."""
    async with _client(_app("monitor", [])) as client:
        leaked = await client.get("/debug/session", params={"jwt": jwt_canary})
        token = await client.post("/oauth/token", json={"jwt": jwt_canary})
    assert jwt_canary not in leaked.text
    assert REFRESH not in leaked.text
    assert leaked.json()["state"] == "ok"
    assert token.json()["access_token"] == jwt_canary
    assert token.json()["refresh_token"] == REFRESH


async def test_field_policy_reveals_are_not_masked_again() -> None:
    """A path revealed by the audited field policy passes; the same email elsewhere is masked."""
    async with _client(_app("mask", [])) as client:
        response = await client.get("/contact?reveal=email&purpose=ticket-42")
    body = response.json()
    assert body["email"] == EMAIL
    assert body["notes"] == "alt [EMAIL]"


async def test_binary_bodies_pass_untouched() -> None:
    """Non-text media types are not scanned (nor corrupted)."""
    async with _client(_app("mask", [])) as client:
        response = await client.get("/binary")
    assert response.content == EMAIL.encode()


async def test_streamed_body_is_masked_across_chunk_boundaries_with_bounded_buffer() -> None:
    """A large stream is masked even where a value is cut between chunks, and stays streamed."""
    received: list[int] = []
    app = _app("mask", [], max_buffer=4096)

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        async def counting(message: Any) -> None:
            if message["type"] == "http.response.body":
                received.append(len(message.get("body", b"")))
            await send(message)

        await app(scope, receive, counting)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=spy), base_url="https://api.test"
    ) as client:
        response = await client.get("/stream")
    assert EMAIL not in response.text
    rows = response.json()["rows"]
    assert len(rows) == 400
    assert all(row["note"] == "mail [EMAIL]" for row in rows)
    assert len(received) > 2
    assert max(received) < 64 * 1024


@pytest.mark.parametrize("mode", ["monitor", "mask", "block"])
async def test_clean_responses_are_byte_identical(mode: EgressMode) -> None:
    """A body without findings is passed as it was, in every mode."""
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, Any]:
        return {"id": "ord_1", "amount": "34.90", "items": [1, 2, 3]}

    app.add_middleware(EgressFilter, mode=mode)
    async with _client(app) as client:
        response = await client.get("/ok")
    assert response.content == b'{"id":"ord_1","amount":"34.90","items":[1,2,3]}'


async def test_response_headers_are_filtered_too(jwt_canary: str) -> None:
    """Tokens in headers are always masked, PII per mode; Set-Cookie (token transport) is kept."""
    async with _client(_app("monitor", [])) as client:
        monitored = await client.get("/headers", params={"jwt": jwt_canary})
    async with _client(_app("mask", [])) as client:
        masked = await client.get("/headers", params={"jwt": jwt_canary})
    async with _client(_app("block", [])) as client:
        blocked = await client.get("/headers", params={"jwt": jwt_canary})
    assert monitored.headers["location"] == "/next?session=[JWT]"
    assert monitored.headers["x-debug-user"] == EMAIL
    assert masked.headers["x-debug-user"] == "[EMAIL]"
    assert masked.headers["set-cookie"].startswith(f"__Host-tokenveil={jwt_canary}")
    assert blocked.status_code == 500
    assert EMAIL not in str(blocked.headers)
    assert "x-debug-user" not in blocked.headers


async def test_ignored_kinds_pass_but_secrets_cannot_be_ignored(jwt_canary: str) -> None:
    """ignore_kinds lets an API return e.g. card numbers on purpose; JWTs stay masked anyway."""
    app = _app("mask", [], ignore_kinds={"CREDIT_CARD", "JWT"})
    async with _client(app) as client:
        notes = (await client.get("/notes")).json()
        session = await client.get("/debug/session", params={"jwt": jwt_canary})
    assert notes["items"] == [{"card": CARD}]
    assert notes["notes"] == "call back [EMAIL] today"
    assert jwt_canary not in session.text
