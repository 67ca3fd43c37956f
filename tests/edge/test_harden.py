"""harden(app): every edge control installed once, in the documented order, refusing PII routes."""

from __future__ import annotations

import re
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from tokenveil import logs
from tokenveil.errors import ConfigurationError
from tokenveil.web.egress import EgressFilter
from tokenveil.web.errors import ErrorBoundary
from tokenveil.web.fields import PII
from tokenveil.web.harden import UnpresentedPIIWarning, harden
from tokenveil.web.transport import CSRFProtection, TransportSecurity


class Member(BaseModel):
    id: str
    email: Annotated[str, PII("EMAIL", reveal="pii:email:read")]


def _plain_app() -> FastAPI:
    app = FastAPI()

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    @app.get("/note")
    async def note() -> dict[str, str]:
        return {"note": "write to zq.canary.harden@leak-test.example"}

    return app


def test_middleware_order_and_idempotence() -> None:
    """Transport outermost, then error boundary, CSRF, egress; a second call adds nothing."""
    app = _plain_app()
    harden(app, install_logging=False)
    harden(app, install_logging=False)
    classes: list[object] = [m.cls for m in app.user_middleware]
    assert classes == [
        TransportSecurity,
        ErrorBoundary,
        CSRFProtection,
        EgressFilter,
    ]


def test_routes_returning_pii_models_without_present_are_refused() -> None:
    """A route that would serialise declared PII unfiltered stops the app from starting."""
    app = FastAPI()

    @app.get("/members/{mid}", response_model=Member)
    async def member(mid: str) -> Any:
        return Member(id=mid, email="x@example.com")

    with pytest.raises(ConfigurationError, match=re.escape("GET /members/{mid}")):
        harden(app, install_logging=False)
    with pytest.warns(UnpresentedPIIWarning):
        harden(app, install_logging=False, check_routes="warn")


async def test_hardened_app_end_to_end_headers_errors_egress_and_logs() -> None:
    """One request per control: a crash is generic with HSTS, PII is masked, logs are redacted."""
    app = _plain_app()
    harden(app)
    assert logs.installed_filter() is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as client:
        crash = await client.get("/crash", headers={"Authorization": "Bearer abc"})
        note = await client.get("/note")
        query = await client.get("/note?access_token=abc")
    assert crash.status_code == 500
    assert crash.json()["error"] == "server_error"
    assert crash.headers["strict-transport-security"].startswith("max-age=")
    assert crash.headers["cache-control"] == "no-store"
    assert note.json() == {"note": "write to [EMAIL]"}
    assert query.status_code == 400
