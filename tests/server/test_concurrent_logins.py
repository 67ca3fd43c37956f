"""Failure budgets hold nothing while argon2 runs: many good logins at once from one address
(a NAT, a backend-for-frontend) all succeed, however small the budgets; failures still count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.server._app import BASE, PASSWORD, login, make_settings, running
from tokenveil.store import MemoryStore
from tokenveil.web.oauth import TokenRateLimits, oauth_router

CONCURRENT = 12
BUDGET = 3
T0 = 1_700_000_000.0  # inside one window for the whole test (a real clock may cross one)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with running(make_settings(tmp_path), MemoryStore()) as (_, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        limits = TokenRateLimits(
            window=10.0,
            per_ip=None,
            per_client=None,
            failures_per_ip=BUDGET,
            failures_per_client=BUDGET,
            failures_per_username=BUDGET,
        )
        bare = FastAPI()
        bare.state.tokenveil = service
        bare.include_router(oauth_router(rate_limits=limits, clock=lambda: T0))
        yield bare


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def test_concurrent_good_logins_from_one_address_exceed_the_failure_budget(
    app: FastAPI,
) -> None:
    async with _client(app) as http:
        answers = await asyncio.gather(*(login(http) for _ in range(CONCURRENT)))
    assert [a.status_code for a in answers] == [200] * CONCURRENT


async def test_failures_are_still_counted_and_refused_past_the_budget(app: FastAPI) -> None:
    async with _client(app) as http:
        statuses = [(await login(http, password="wrong")).status_code for _ in range(BUDGET + 2)]
        assert statuses == [400] * BUDGET + [429, 429]
        assert (await login(http)).status_code == 429  # the address is spent for this window
