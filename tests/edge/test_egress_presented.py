"""The egress filter's fast paths never let a secret or undeclared PII through.

* A body built by ``Present`` is scanned from the handed-over document, not parsed again;
  undeclared PII in the model's undeclared string fields is still caught.
* The handed-over document is used only when the body is byte-for-byte the presented one.
* The secret walk is skipped only for bodies whose bytes cannot spell a refresh token or a token
  key (escapes and non-ASCII bodies are always walked).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from tokenveil._principal import Principal
from tokenveil.web.egress import EgressFilter, _may_hold_secret_keys
from tokenveil.web.fields import PII, PRESENTED_STATE_KEY, Present

EMAIL = "zq.canary.presented@leak-test.example"
OTHER = "yx.canary.swapped@leak-test.example"
REFRESH = "tvr_" + "UHJlc2VudGVkQ2FuYXJ5" * 3


class Ticket(BaseModel):
    id: str
    email: Annotated[str, PII("EMAIL", reveal="pii:email:read", mask="partial")]
    subject: str  # undeclared free text
    extra: dict[str, str] = {}


def _app(jwt: str) -> FastAPI:
    app = FastAPI()
    seen: dict[str, Any] = {}
    app.state.seen = seen

    @app.get("/ticket")
    async def ticket(request: Request, present: Present) -> Any:
        request.state.tokenveil_principal = Principal("u1", frozenset(), "c", "j", 0, 1)
        response = await present(
            Ticket(
                id="t1",
                email=EMAIL,
                subject=f"from {EMAIL}: token Bearer {jwt} and {REFRESH}",
                extra={"access_token": "opaque-value-123456"},
            )
        )
        seen["presented"] = request.scope["state"].get(PRESENTED_STATE_KEY)
        return response

    @app.get("/swapped")
    async def swapped(request: Request, present: Present) -> Any:
        # Presents a clean record, then sends a different body: the filter must parse it.
        request.state.tokenveil_principal = Principal("u1", frozenset(), "c", "j", 0, 1)
        await present(Ticket(id="t2", email=EMAIL, subject="clean"))
        return JSONResponse({"subject": f"write to {OTHER}", "refresh": REFRESH})

    @app.get("/kelvin")
    async def kelvin() -> Response:
        # "access_to\u212aen" lower-cases to "access_token": the bytes do not show it.
        body = json.dumps({"access_to\u212aen": "opaque-value-123456"}, ensure_ascii=False)
        return Response(body.encode(), media_type="application/json")

    @app.get("/escaped")
    async def escaped() -> Response:
        body = '{"note": "tv\\u0072_' + REFRESH[4:] + '", "Access_Token": "x-opaque-1"}'
        return Response(body.encode(), media_type="application/json")

    app.add_middleware(EgressFilter, mode="mask")
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.test")


async def test_presented_body_still_masks_undeclared_pii_and_secrets(jwt_canary: str) -> None:
    app = _app(jwt_canary)
    async with _client(app) as client:
        response = await client.get("/ticket")
    assert app.state.seen["presented"] is not None  # the handover path was taken
    assert response.status_code == 200
    body = response.json()
    assert EMAIL not in response.text
    assert jwt_canary not in response.text
    assert REFRESH not in response.text
    assert "opaque-value-123456" not in response.text
    assert body["email"].startswith("**.******")  # the policy's partial mask
    assert body["subject"].startswith("from [EMAIL]: ")  # undeclared: caught by egress
    assert int(response.headers["content-length"]) == len(response.content)


async def test_handover_ignored_when_the_body_is_not_the_presented_one() -> None:
    async with _client(_app("unused")) as client:
        response = await client.get("/swapped")
    assert OTHER not in response.text
    assert REFRESH not in response.text
    assert response.json()["subject"] == "write to [EMAIL]"


async def test_token_keys_spelled_without_ascii_bytes_are_still_masked() -> None:
    async with _client(_app("unused")) as client:
        kelvin = await client.get("/kelvin")
        escaped = await client.get("/escaped")
    assert "opaque-value-123456" not in kelvin.text
    assert REFRESH[4:] not in escaped.text
    assert "x-opaque-1" not in escaped.text


@pytest.mark.parametrize(
    ("raw", "may"),
    [
        (b'{"id":"itm_42","title":"Tea set"}', False),
        (b'{"note":"tvr_abc"}', True),
        (b'{"ID_TOKEN":"x"}', True),
        (b'{"Refresh_Token":"x"}', True),
        (b'{"note":"tv\\u0072_abc"}', True),
        ('{"access_to\u212aen":"x"}'.encode(), True),
        ('{"note":"caf\u00e9"}'.encode(), True),
    ],
)
def test_secret_precheck_is_conservative(raw: bytes, may: bool) -> None:
    assert _may_hold_secret_keys(raw) is may
