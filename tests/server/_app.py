"""Build the token server in-process for HTTP tests (lifespan run by hand, ASGI transport)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from tokenveil.config import Settings
from tokenveil.keys._b64 import b64url_encode
from tokenveil.server import DEMO_CLIENT_ID, create_app
from tokenveil.service import TokenService
from tokenveil.store import Store

BASE = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery staple"


def make_settings(data_dir: Path, **changes: object) -> Settings:
    settings = Settings(
        issuer=BASE,
        data_dir=data_dir,
        kek=b64url_encode(secrets.token_bytes(32)),
        development=True,  # the ASGI test client calls from 127.0.0.1 over plain HTTP
    )
    return settings.replace(**changes) if changes else settings


@asynccontextmanager
async def running(
    settings: Settings, store: Store | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, TokenService, FastAPI]]:
    # The background sync keeps the revocation view fresh, as in a real server; without it
    # verification fails closed after the staleness limit (invariant 9).
    app = create_app(settings, store=store, background=True)
    async with app.router.lifespan_context(app):
        service = app.state.tokenveil
        assert isinstance(service, TokenService)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client, service, app


async def login(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "password",
        "username": username,
        "password": password,
        "client_id": DEMO_CLIENT_ID,
    }
    form.update(extra)
    return await client.post("/oauth/token", data=form)


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": DEMO_CLIENT_ID},
    )
