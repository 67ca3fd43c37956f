"""The demo token server leaks no canary: every route, the token flows, bad input, SQLite files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from tokenveil.server import DEMO_CLIENT_ID, create_app
from tokenveil.service import TokenService
from tokenveil.testing import LeakHarness
from tokenveil.web.harden import harden

from ..server._app import make_settings

_TOKENS = {"issued_access_token", "issued_refresh_token"}


@pytest.fixture(autouse=True)
def _info_logs() -> Iterator[None]:
    """Capture what a production server logs at INFO, tokenveil's own loggers included."""
    logger = logging.getLogger("tokenveil")
    old = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(old)


def _demo_app(data_dir: Path) -> FastAPI:
    app = create_app(make_settings(data_dir), background=False)
    # create_app is expected to call harden(); this call is a no-op once it does.
    harden(app, development=True)
    return app


async def _token_flows(h: LeakHarness) -> None:
    """Login, use, refresh, reuse, introspect, revoke, and the usual wrong inputs."""
    service = h.app.state.tokenveil  # type: ignore[attr-defined]
    assert isinstance(service, TokenService)
    canaries = h.canaries
    await service.add_user(
        "canary-user",
        canaries.password,
        email=canaries.email,
        scopes=["profile", "orders", "pii:email:read"],
    )
    client = {"client_id": DEMO_CLIENT_ID}
    login = await h.request(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "canary-user",
            "password": canaries.password,
            "scope": "profile orders pii:email:read",
            **client,
        },
        allow=_TOKENS,
    )
    assert login.status_code == 200
    first = login.json()
    h.watch("issued_access_token", first["access_token"])
    h.watch("issued_refresh_token", first["refresh_token"])
    auth = {"Authorization": f"Bearer {first['access_token']}"}

    assert (await h.request("GET", "/api/me", headers=auth)).status_code == 200
    assert (await h.request("GET", "/api/orders", headers=auth)).status_code == 200
    forbidden = await h.request("GET", f"/api/users/{quote(canaries.email)}", headers=auth)
    assert forbidden.status_code == 403
    in_query = await h.request("GET", f"/api/me?access_token={first['access_token']}")
    assert in_query.status_code == 400

    masked = await h.request("GET", "/api/me", headers=auth)
    assert masked.json()["email"] != canaries.email  # own data, still masked by default
    revealed = await h.request(
        "GET", "/api/me?reveal=email&purpose=ticket-123", headers=auth, allow={"email"}
    )
    assert revealed.json()["email"] == canaries.email
    events = await service.store.list_events("pii.reveal")
    assert [(e.details["field"], e.details["purpose"]) for e in events] == [("email", "ticket-123")]
    assert canaries.email not in repr(events)

    refresh_form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    rotated = await h.request(
        "POST", "/oauth/token", data={**refresh_form, **client}, allow=_TOKENS
    )
    assert rotated.status_code == 200
    second = rotated.json()
    h.watch("issued_access_token", second["access_token"])
    h.watch("issued_refresh_token", second["refresh_token"])
    reuse = await h.request("POST", "/oauth/token", data={**refresh_form, **client})
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"

    await h.request("POST", "/oauth/introspect", data={"token": second["access_token"], **client})
    await h.request("POST", "/oauth/revoke", data={"token": second["refresh_token"], **client})

    wrong = {
        "grant_type": "password",
        "username": canaries.email,
        "password": canaries.password,
        **client,
    }
    assert (await h.request("POST", "/oauth/token", data=wrong)).status_code in (400, 401)
    as_json = await h.request("POST", "/oauth/token", json=wrong)
    assert as_json.status_code == 400
    refresh_as_bearer = {"Authorization": f"Bearer {second['refresh_token']}"}
    assert (await h.request("GET", "/api/me", headers=refresh_as_bearer)).status_code == 401
    tampered = {"Authorization": f"Bearer {second['access_token']}x"}
    assert (await h.request("GET", "/api/me", headers=tampered)).status_code == 401


async def test_demo_server_leaks_no_canary(tmp_path: Path) -> None:
    """No canary in responses, headers, logs or SQLite files (email only in the users table)."""
    app = _demo_app(tmp_path)
    files: dict[str | Path, set[str]] = {tmp_path / "tokenveil.sqlite3": {"email"}}
    async with LeakHarness(app, base_url="https://127.0.0.1:8000", files=files) as harness:
        report = await harness.run(_token_flows)
    report.assert_clean()
    assert report.requests >= 20
