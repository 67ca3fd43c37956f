"""DPoP (RFC 9449) wired end to end: bound tokens and families, downgrade and theft refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.server._app import BASE, PASSWORD, make_settings, running
from tokenveil._principal import Principal
from tokenveil.config import Settings
from tokenveil.dpop import DPoPAuth, create_proof
from tokenveil.keys import generate_private_key
from tokenveil.keys._b64 import b64url_decode
from tokenveil.service import TokenService
from tokenveil.web.deps import Authenticator

Env = tuple[httpx.AsyncClient, TokenService, FastAPI]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with running(make_settings(tmp_path)) as found:
        service = found[1]
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        await service.add_client("mobile", scopes=["profile"], dpop_bound=True)
        yield found


def _form(client_id: str = "mobile") -> dict[str, str]:
    return {
        "grant_type": "password",
        "username": "alice",
        "password": PASSWORD,
        "client_id": client_id,
    }


def _client(app: FastAPI, auth: DPoPAuth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, auth=auth)


async def test_proof_at_login_binds_token_and_family_and_client_keeps_working(env: Env) -> None:
    """Login with a proof: token_type DPoP, cnf.jkt = key; /api/me and refresh need that key."""
    _, service, app = env
    auth = DPoPAuth()
    async with _client(app, auth) as client:
        answer = await client.post("/oauth/token", data=_form())
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "DPoP"
        claims = json.loads(b64url_decode(body["access_token"].split(".")[1]))
        assert claims["cnf"] == {"jkt": auth.jkt}
        families = await service.store.list_families()
        assert [f.dpop_jkt for f in families] == [auth.jkt]

        auth.access_token = body["access_token"]
        assert (await client.get("/api/me")).status_code == 200

        auth.access_token = None
        renewed = await client.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": body["refresh_token"],
                "client_id": "mobile",
            },
        )
        assert renewed.status_code == 200
        assert renewed.json()["token_type"] == "DPoP"


async def test_stolen_bound_token_is_useless_without_the_private_key(env: Env) -> None:
    """The thief's Bearer downgrade and the thief's own proof key are both refused (§7.1)."""
    _, _, app = env
    owner = DPoPAuth()
    async with _client(app, owner) as client:
        body = (await client.post("/oauth/token", data=_form())).json()
    stolen = body["access_token"]

    async with _client(app) as thief:
        as_bearer = await thief.get("/api/me", headers={"Authorization": f"Bearer {stolen}"})
        assert as_bearer.status_code == 401
        no_proof = await thief.get("/api/me", headers={"Authorization": f"DPoP {stolen}"})
        assert no_proof.status_code == 401
    async with _client(app, DPoPAuth(access_token=stolen)) as thief:
        own_key = await thief.get("/api/me")
        assert own_key.status_code == 401
        assert 'error="invalid_token"' in own_key.headers["www-authenticate"]
        assert stolen not in own_key.text

        refresh = await thief.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": body["refresh_token"],
                "client_id": "mobile",
            },
        )
        assert refresh.status_code == 400
        assert refresh.json()["error"] == "invalid_grant"


async def test_dpop_bound_client_gets_no_token_without_a_proof(env: Env) -> None:
    """A client registered dpop_bound must present a proof (400 invalid_dpop_proof)."""
    client, _, _ = env
    answer = await client.post("/oauth/token", data=_form())
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_dpop_proof"


async def test_proof_for_another_url_or_replayed_is_refused_at_the_token_endpoint(
    env: Env,
) -> None:
    """htu is the issuer's token URL; a proof for another host, or used twice, is refused."""
    client, _, _ = env
    key = generate_private_key("ES256")
    wrong = create_proof(key, htm="POST", htu="https://evil.example/oauth/token", now=_now())
    answer = await client.post("/oauth/token", data=_form(), headers={"DPoP": wrong})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_dpop_proof"

    proof = create_proof(key, htm="POST", htu=f"{BASE}/oauth/token", now=_now())
    first = await client.post("/oauth/token", data=_form(), headers={"DPoP": proof})
    assert first.status_code == 200
    replay = await client.post("/oauth/token", data=_form(), headers={"DPoP": proof})
    assert replay.status_code == 400


async def test_server_nonces_are_demanded_and_the_client_retries_by_itself(
    tmp_path: Path,
) -> None:
    """With dpop_nonces on, DPoPAuth gets use_dpop_nonce once and retries with DPoP-Nonce."""
    async with running(make_settings(tmp_path, dpop_nonces=True)) as (_, service, app):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        await service.add_client("mobile", scopes=["profile"], dpop_bound=True)
        auth = DPoPAuth()
        async with _client(app, auth) as client:
            answer = await client.post("/oauth/token", data=_form())
            assert answer.status_code == 200, answer.text
            assert auth.nonce is not None
            auth.access_token = answer.json()["access_token"]
            assert (await client.get("/api/me")).status_code == 200
        bare = DPoPAuth()
        async with _client(app) as raw:
            proof = create_proof(bare._key, htm="POST", htu=f"{BASE}/oauth/token", now=_now())
            refused = await raw.post("/oauth/token", data=_form(), headers={"DPoP": proof})
            assert refused.status_code == 400
            assert refused.json()["error"] == "use_dpop_nonce"
            assert refused.headers["DPoP-Nonce"]


async def test_route_requiring_dpop_refuses_bearer_tokens(tmp_path: Path) -> None:
    """Authenticator(require_dpop=True) refuses an unbound bearer token, accepts a DPoP one."""
    settings: Settings = make_settings(tmp_path)
    async with running(settings) as (client, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        strict = Authenticator(require_dpop=True)
        app = FastAPI()
        app.state.tokenveil = service

        @app.get("/strict")
        async def strict_route(
            # A default, not Annotated: postponed annotations cannot see the local `strict`.
            principal: Principal = strict.require_scopes("profile"),  # noqa: B008
        ) -> dict[str, str]:
            return {"sub": principal.sub}

        bearer = (await client.post("/oauth/token", data=_form("tokenveil-demo"))).json()[
            "access_token"
        ]
        async with _client(app) as plain:
            refused = await plain.get("/strict", headers={"Authorization": f"Bearer {bearer}"})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("DPoP")

        auth = DPoPAuth()
        async with _client(service_app(service), auth) as bound:
            token = (await bound.post("/oauth/token", data=_form("tokenveil-demo"))).json()
        auth.access_token = token["access_token"]
        async with _client(app, auth) as dpop:
            assert (await dpop.get("/strict")).status_code == 200


def service_app(service: TokenService) -> FastAPI:
    """The full server app sharing ``service`` (its token endpoint binds with the proof)."""
    from tokenveil.web.oauth import oauth_router

    app = FastAPI()
    app.state.tokenveil = service
    app.include_router(oauth_router())
    return app


def _now() -> float:
    import time

    return time.time()
