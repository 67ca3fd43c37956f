"""The per-username failed-authentication budget: password guessing against one user spread over
many addresses is limited, without locking the user out, without telling which usernames exist,
and without ever keeping a username in a counter key or a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.server._app import BASE, PASSWORD, login, make_settings, running
from tokenveil.service import TokenService
from tokenveil.store import MemoryStore
from tokenveil.store._ratelimit import Hit, MemoryRateCounter, RateCounter
from tokenveil.web.oauth import TokenRateLimits, oauth_router

T0 = 1_700_000_000.0  # a window boundary
#: A username that a key or a log line could not hold by accident.
USERNAME = "mallory.prefers-tea@example.org"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class RecordingCounter:
    """A :class:`MemoryRateCounter` that remembers every key it was given."""

    def __init__(self) -> None:
        self.inner = MemoryRateCounter(10.0)
        self.keys: set[str] = set()

    async def hit(self, key: str, *, now: float) -> Hit:
        self.keys.add(key)
        return await self.inner.hit(key, now=now)

    async def refund(self, key: str, *, now: float) -> None:
        self.keys.add(key)
        await self.inner.refund(key, now=now)

    async def peek(self, key: str, *, now: float) -> Hit:
        self.keys.add(key)
        return await self.inner.peek(key, now=now)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[TokenService]:
    async with running(make_settings(tmp_path), MemoryStore()) as (_, found, _):
        await found.add_user("alice", PASSWORD, scopes=["profile"])
        await found.add_user(USERNAME, PASSWORD, scopes=["profile"])
        yield found


def _app(
    service: TokenService, per_username: int | None, rate_counter: RateCounter | None = None
) -> FastAPI:
    limits = TokenRateLimits(
        window=10.0,
        per_ip=None,
        per_client=None,
        failures_per_ip=20,
        failures_per_client=None,
        failures_per_username=per_username,
    )
    app = FastAPI()
    app.state.tokenveil = service
    app.include_router(
        oauth_router(rate_limits=limits, rate_counter=rate_counter, clock=FakeClock())
    )
    return app


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def test_password_guessing_from_many_addresses_against_one_username_is_limited(
    service: TokenService, argon2_checks: list[int]
) -> None:
    """Once a username's budget is spent, every address that has failed in the window is
    refused with 429 before argon2 runs: each further address gets one check, not twenty."""
    app = _app(service, per_username=3)
    async with _from(app, "198.51.100.1") as http:
        statuses = [(await login(http, password=f"guess {n}")).status_code for n in range(5)]
    assert statuses == [400, 400, 400, 429, 429]
    assert len(argon2_checks) == 3
    for n in range(2, 8):
        async with _from(app, f"198.51.100.{n}") as http:
            first = await login(http, password="another guess")
            again = await login(http, password="yet another guess")
        assert first.status_code == 400  # an address without failures of its own is checked
        assert again.status_code == 429
        assert again.json()["error"] == "slow_down"
        assert "retry-after" in again.headers
    assert len(argon2_checks) == 3 + 6
    async with _from(app, "203.0.113.9") as other:  # another username keeps its own budget
        assert (await login(other, username=USERNAME, password="wrong")).status_code == 400
        assert (await login(other, username=USERNAME, password="wrong")).status_code == 400


async def test_the_real_user_still_logs_in_from_a_clean_address_after_a_distributed_attack(
    service: TokenService,
) -> None:
    """Failures sent in a user's name from many addresses cannot lock the user out: from an
    address with no failure of its own the right password still gets a token, even while the
    attackers' addresses are refused."""
    app = _app(service, per_username=2)
    attackers = [f"2001:db8:{n}::1" for n in range(1, 6)]  # five /64s
    for address in attackers:
        async with _from(app, address) as http:
            assert (await login(http, password="wrong")).status_code == 400
    async with _from(app, attackers[0]) as http:
        assert (await login(http, password="wrong")).status_code == 429
    async with _from(app, "192.0.2.77") as real:
        ok = await login(real)
        assert ok.status_code == 200
        assert "access_token" in ok.json()
        assert (await login(real)).status_code == 200  # a success spends nothing
    async with _from(app, attackers[1]) as http:
        assert (await login(http)).status_code == 429  # a failed address stays refused


async def test_unknown_and_existing_usernames_get_identical_answers(service: TokenService) -> None:
    """Wrong passwords for an existing user and for a username nobody holds give the same
    status, body and Retry-After sequences, alone and after failures from other addresses:
    the budget is keyed on the submitted username, so a 429 never tells which users exist."""
    app = _app(service, per_username=3)
    names = ("alice", "nobody-at-all")

    async def answers(address: str, username: str, times: int) -> list[tuple[int, object, str]]:
        found = []
        async with _from(app, address) as http:
            for _ in range(times):
                answer = await login(http, username=username, password="wrong")
                found.append((answer.status_code, answer.json(), answer.headers["cache-control"]))
        return found

    alone = [await answers(f"192.0.2.{10 + n}", name, 5) for n, name in enumerate(names)]
    assert [status for status, _, _ in alone[0]] == [400, 400, 400, 429, 429]
    assert alone[1] == alone[0]
    spread = []
    for n, name in enumerate(["alice2", "nobody2"]):
        if name == "alice2":
            await service.add_user(name, PASSWORD, scopes=["profile"])
        for m in range(4):
            await answers(f"198.51.{n}.{m}", name, 1)
        spread.append(await answers(f"203.0.113.{n}", name, 2))
    assert [status for status, _, _ in spread[0]] == [400, 429]
    assert spread[1] == spread[0]


async def test_no_username_reaches_a_counter_key_or_a_log_line(
    service: TokenService, caplog: pytest.LogCaptureFixture
) -> None:
    """The username budget is counted under a keyed pseudonym: the counter keys and the
    'budget spent' log line hold neither the username nor any recognisable part of it."""
    counter = RecordingCounter()
    app = _app(service, per_username=2, rate_counter=counter)
    caplog.set_level(logging.DEBUG)
    for n in range(4):
        async with _from(app, f"198.51.100.{n}") as http:
            for _ in range(2):
                await login(http, username=USERNAME, password="wrong")
    user_keys = [key for key in counter.keys if key.startswith("fail-user:")]
    assert len(user_keys) == 1
    assert "failed-authentication budget spent (per username)" in caplog.text
    for part in ("mallory", "prefers", "example.org", USERNAME.upper()):
        assert all(part.lower() not in key.lower() for key in counter.keys)
        assert part.lower() not in caplog.text.lower()


@pytest.mark.redis
async def test_the_username_budget_is_shared_through_redis_under_a_pseudonym(
    service: TokenService, redis_url: str, redis_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two instances (two routers, one key-encryption key) count a username under the same
    pseudonym in Redis, so failures on one spend the budget on the other; no Redis key and no
    log line holds the username."""
    from tokenveil.store.redis import RedisRateCounter, connect

    client = connect(redis_url)
    prefix = f"{redis_namespace}user-budget:{time.time_ns()}:"
    caplog.set_level(logging.DEBUG)
    try:
        one = _app(service, 2, RedisRateCounter(client, 10.0, prefix=prefix))
        two = _app(service, 2, RedisRateCounter(client, 10.0, prefix=prefix))
        async with _from(one, "192.0.2.20") as a:
            assert (await login(a, username=USERNAME, password="wrong")).status_code == 400
        async with _from(two, "192.0.2.21") as b:
            assert (await login(b, username=USERNAME, password="wrong")).status_code == 400
            assert (await login(b, username=USERNAME, password="wrong")).status_code == 429
        async with _from(one, "192.0.2.22") as real:
            assert (await login(real, username=USERNAME)).status_code == 200
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        texts = [key.decode() if isinstance(key, bytes) else str(key) for key in keys]
        assert any("fail-user:" in key for key in texts)
        assert all("mallory" not in key.lower() for key in texts)
        assert "mallory" not in caplog.text.lower()
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
