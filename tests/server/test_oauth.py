"""The token server over HTTP: grants, rotation, reuse detection, revocation, introspection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.server._app import PASSWORD, login, make_settings, refresh, running
from tokenveil.keys._b64 import b64url_decode
from tokenveil.server import DEMO_CLIENT_ID
from tokenveil.service import TokenService
from tokenveil.store import MemoryStore, Store

Env = tuple[httpx.AsyncClient, TokenService, FastAPI]


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Store | None:
    return MemoryStore() if request.param == "memory" else None


@pytest.fixture
async def env(tmp_path: Path, backend: Store | None) -> AsyncIterator[Env]:
    async with running(make_settings(tmp_path), backend) as found:
        await found[1].add_user(
            "alice", PASSWORD, email="alice@example.com", scopes=["profile", "orders"]
        )
        yield found


def _claims(token: str) -> dict[str, object]:
    header, payload, _ = token.split(".")
    assert json.loads(b64url_decode(header))["typ"] == "at+jwt"
    claims = json.loads(b64url_decode(payload))
    assert isinstance(claims, dict)
    return claims


async def test_password_grant_issues_minimal_tokens(env: Env) -> None:
    """Login returns an at+jwt with only registered claims and an opaque refresh token."""
    client, _, _ = env
    response = await login(client)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    claims = _claims(body["access_token"])
    assert set(claims) <= {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}
    assert str(claims["sub"]).startswith("usr_")
    assert "alice" not in json.dumps(claims)
    assert body["refresh_token"].startswith("tvr_")
    assert body["refresh_token"].count(".") == 0


async def test_unknown_user_and_wrong_password_answer_alike(env: Env) -> None:
    """No user enumeration: unknown user and wrong password give the same status and body."""
    client, _, _ = env
    wrong = await login(client, password="not the password")
    unknown = await login(client, username="mallory")
    assert wrong.status_code == unknown.status_code == 400
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_grant",
            "error_description": (
                "The credentials or the refresh token are invalid, expired or revoked."
            ),
        }
    )
    assert PASSWORD not in wrong.text


async def test_refresh_rotates_and_reuse_revokes_the_family(env: Env) -> None:
    """RFC 9700 §4.14: a consumed refresh token seen again revokes the whole family."""
    client, service, _ = env
    first = (await login(client)).json()["refresh_token"]
    second_response = await refresh(client, first)
    assert second_response.status_code == 200
    second = second_response.json()["refresh_token"]
    assert second != first

    reuse = await refresh(client, first)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token died with the family.
    assert (await refresh(client, second)).status_code == 400
    events = await service.store.list_events("refresh.reuse")
    assert len(events) == 1
    assert "tvr_" not in json.dumps(dict(events[0].details))


async def test_concurrent_refresh_exactly_one_wins(env: Env) -> None:
    """Two concurrent refreshes with the same token: exactly one succeeds."""
    client, _, _ = env
    token = (await login(client)).json()["refresh_token"]
    answers = await asyncio.gather(*(refresh(client, token) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400]


async def test_protected_route_needs_valid_token_and_scope(env: Env) -> None:
    """/api/me: 401 without or with a bad token (RFC 6750), 403 without the scope, 200 with."""
    client, _service, _ = env
    missing = await client.get("/api/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = await client.get("/api/me", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert "not.a.token" not in bad.text

    access = (await login(client, scope="orders")).json()["access_token"]
    denied = await client.get("/api/me", headers={"Authorization": f"Bearer {access}"})
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]

    full = (await login(client)).json()["access_token"]
    ok = await client.get("/api/me", headers={"Authorization": f"Bearer {full}"})
    assert ok.status_code == 200


async def test_scope_beyond_grant_refused(env: Env) -> None:
    """A scope the user or client was not granted cannot be asked for."""
    client, _, _ = env
    answer = await login(client, scope="admin:users")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"


async def test_revoked_access_token_refused_at_once(env: Env) -> None:
    """RFC 7009 on an access token: the next request with it is refused."""
    client, _, _ = env
    access = (await login(client)).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    assert (await client.get("/api/me", headers=headers)).status_code == 200
    revoked = await client.post(
        "/oauth/revoke", data={"token": access, "client_id": DEMO_CLIENT_ID}
    )
    assert revoked.status_code == 200
    assert (await client.get("/api/me", headers=headers)).status_code == 401


async def test_revoked_refresh_token_cannot_refresh(env: Env) -> None:
    """RFC 7009 on a refresh token: its family can no longer refresh."""
    client, _, _ = env
    token = (await login(client)).json()["refresh_token"]
    await client.post("/oauth/revoke", data={"token": token, "client_id": DEMO_CLIENT_ID})
    assert (await refresh(client, token)).status_code == 400


async def test_client_credentials_limited_to_registered_scopes(env: Env) -> None:
    """Service clients get only scopes they were registered for; public clients get none."""
    client, service, _ = env
    _, secret = await service.add_client(
        "reporting",
        scopes=["orders"],
        grant_types=["client_credentials"],
        confidential=True,
    )
    assert secret is not None
    ok = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("reporting", secret),
    )
    assert ok.status_code == 200
    assert ok.json()["scope"] == "orders"
    assert "refresh_token" not in ok.json()
    wider = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "orders profile"},
        auth=("reporting", secret),
    )
    assert wider.json()["error"] == "invalid_scope"
    wrong = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("reporting", "nope")
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    public = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID}
    )
    assert public.json()["error"] == "unauthorized_client"


async def test_introspection_is_authenticated_and_minimal(env: Env) -> None:
    """RFC 7662: only confidential clients registered for it may ask; the answer holds no PII."""
    client, service, _ = env
    _, secret = await service.add_client(
        "gateway", grant_types=["client_credentials"], confidential=True, introspect=True
    )
    assert secret is not None
    access = (await login(client)).json()["access_token"]
    anonymous = await client.post("/oauth/introspect", data={"token": access})
    assert anonymous.status_code == 401
    answer = await client.post(
        "/oauth/introspect", data={"token": access}, auth=("gateway", secret)
    )
    body = answer.json()
    assert body["active"] is True
    assert set(body) == {"active", "scope", "client_id", "sub", "exp", "iat", "token_type"}
    assert "example.com" not in answer.text
    assert "alice" not in answer.text
    garbage = await client.post(
        "/oauth/introspect", data={"token": "garbage"}, auth=("gateway", secret)
    )
    assert garbage.json() == {"active": False}


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ('{"grant_type":"password"}', {"content-type": "application/json"}),
        ("grant_type=password&grant_type=password", None),
        ("grant_type=", None),
        ("grant_type=implicit", None),
        ("grant_type=password&username=alice&client_id=tokenveil-demo", None),
    ],
)
async def test_bad_token_requests_get_generic_errors(
    env: Env, content: str, headers: dict[str, str] | None
) -> None:
    """Malformed token requests get an RFC 6749 §5.2 error, never a 422 or 500."""
    client, _, _ = env
    headers = headers or {"content-type": "application/x-www-form-urlencoded"}
    answer = await client.post("/oauth/token", content=content, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"] in {"invalid_request", "unsupported_grant_type"}


async def test_jwks_and_metadata_published(env: Env) -> None:
    """JWKS lists public keys with a cache lifetime; RFC 8414 metadata points at endpoints."""
    client, service, _ = env
    jwks = await client.get("/.well-known/jwks.json")
    assert "max-age=300" in jwks.headers["cache-control"]
    kids = {k["kid"] for k in jwks.json()["keys"]}
    assert service.keyring.signing_key().kid in kids
    assert all("d" not in k for k in jwks.json()["keys"])
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == service.settings.issuer
    assert meta["jwks_uri"].endswith("/.well-known/jwks.json")


async def test_cookie_mode_keeps_refresh_token_out_of_the_body(tmp_path: Path) -> None:
    """Cookie mode: the refresh token travels only in a __Host- Secure HttpOnly cookie."""
    async with running(make_settings(tmp_path, refresh_cookie=True), MemoryStore()) as env:
        client, service, _ = env
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        answer = await login(client)
        assert "refresh_token" not in answer.json()
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-tokenveil-refresh=tvr_")
        for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
            assert flag.lower() in cookie.lower()


async def test_state_survives_a_server_restart(tmp_path: Path) -> None:
    """Users, keys and refresh families persist in SQLite across a restart."""
    settings = make_settings(tmp_path)
    async with running(settings) as (client, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        body = (await login(client)).json()
        kid = service.keyring.signing_key().kid
    async with running(settings) as (client, service, _):
        assert service.keyring.signing_key().kid == kid
        me = await client.get(
            "/api/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert (await refresh(client, body["refresh_token"])).status_code == 200
