"""The failed-authentication budget: argon2 checks (password grants, client secret hashes from
earlier versions) are refused with 429 slow_down before they run once a caller has spent its
failures; successes spend nothing; failures sent from many addresses cannot lock a legitimate
client out.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from tests.server._app import BASE, PASSWORD, login, make_settings, running
from tokenveil import _passwords
from tokenveil.server import DEMO_CLIENT_ID
from tokenveil.service import TokenService
from tokenveil.store import Client, MemoryStore
from tokenveil.store._ratelimit import RateCounter
from tokenveil.web.oauth import TokenRateLimits, oauth_router

CC = {"grant_type": "client_credentials"}
LEGACY_SECRET = "tvc_secret-hashed-by-an-earlier-version"
T0 = 1_700_000_000.0  # a window boundary


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[TokenService]:
    async with running(make_settings(tmp_path), MemoryStore()) as (_, found, _):
        await found.add_user("alice", PASSWORD, scopes=["profile"])
        await found.store.add_client(
            Client(
                client_id="legacy",
                secret_hash=_passwords.hash_password_sync(LEGACY_SECRET),
                grant_types=("client_credentials",),
            )
        )
        yield found


def _app(
    service: TokenService,
    limits: TokenRateLimits,
    clock: FakeClock,
    rate_counter: RateCounter | None = None,
) -> FastAPI:
    app = FastAPI()
    app.state.tokenveil = service
    app.include_router(oauth_router(rate_limits=limits, rate_counter=rate_counter, clock=clock))
    return app


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    """An HTTP client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def _without_address(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client whose requests carry no client address (as with uvicorn --uds)."""

    async def no_peer(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "client": None}, receive, send)

    transport = httpx.ASGITransport(app=no_peer)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def _limits(**budgets: int | None) -> TokenRateLimits:
    return TokenRateLimits(window=10.0, per_ip=None, per_client=None, **budgets)


async def test_wrong_legacy_client_secrets_are_refused_before_argon2_past_the_budget(
    service: TokenService, argon2_checks: list[int]
) -> None:
    """Past the per-address failure budget, a wrong secret for a client with an argon2id hash
    gets 429 slow_down with Retry-After without any argon2 check; the next window is open."""
    clock = FakeClock()
    app = _app(service, _limits(failures_per_ip=3, failures_per_client=None), clock)
    async with _from(app, "192.0.2.10") as http:
        for _ in range(3):
            wrong = await http.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
            assert wrong.status_code == 401
        assert len(argon2_checks) == 3
        for _ in range(5):
            refused = await http.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
            assert refused.status_code == 429
            assert refused.json()["error"] == "slow_down"
            assert 1 <= int(refused.headers["retry-after"]) <= 10
            assert refused.headers["cache-control"] == "no-store"
        assert len(argon2_checks) == 3  # refused before the check ran
        clock.now += 10
        ok = await http.post("/oauth/token", data=CC, auth=("legacy", LEGACY_SECRET))
        assert ok.status_code == 200


async def test_failed_password_grants_spend_the_budget_before_argon2(
    service: TokenService, argon2_checks: list[int]
) -> None:
    """Wrong passwords (and unknown users, checked against a dummy argon2 hash) spend the
    address's budget; past it even the right password is refused before argon2 runs."""
    app = _app(service, _limits(failures_per_ip=3), FakeClock())
    async with _from(app, "192.0.2.11") as http:
        assert (await login(http, password="wrong password")).status_code == 400
        assert (await login(http, username="nobody")).status_code == 400
        assert (await login(http, password="wrong again")).status_code == 400
        checks = len(argon2_checks)
        refused = await login(http)
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        assert len(argon2_checks) == checks
    async with _from(app, "192.0.2.12") as other:  # another address has its own budget
        assert (await login(other)).status_code == 200


async def test_successful_authentications_do_not_spend_the_failure_budget(
    service: TokenService,
) -> None:
    """Successes give their reservation back: many logins, then the budget is still whole."""
    app = _app(service, _limits(failures_per_ip=2), FakeClock())
    async with _from(app, "192.0.2.13") as http:
        assert (await login(http, password="wrong password")).status_code == 400
        for _ in range(6):
            assert (await login(http)).status_code == 200
        ok = await http.post("/oauth/token", data=CC, auth=("legacy", LEGACY_SECRET))
        assert ok.status_code == 200
        assert (await login(http, password="wrong password")).status_code == 400
        assert (await login(http)).status_code == 429


async def test_cheap_client_failures_count_against_the_address(service: TokenService) -> None:
    """Wrong sha256$ secrets and unknown client ids are counted after the fact, so an address
    that guesses cheaply cannot then run argon2 checks."""
    _, secret = await service.add_client(
        "modern", grant_types=["client_credentials"], confidential=True
    )
    assert secret is not None
    app = _app(service, _limits(failures_per_ip=2), FakeClock())
    async with _from(app, "192.0.2.14") as http:
        assert (await http.post("/oauth/token", data=CC, auth=("modern", "x"))).status_code == 401
        assert (await http.post("/oauth/token", data=CC, auth=("nobody", "x"))).status_code == 401
        assert (await login(http)).status_code == 429
        refused = await http.post("/oauth/token", data=CC, auth=("legacy", LEGACY_SECRET))
        assert refused.status_code == 429


async def test_failures_from_many_addresses_cannot_lock_out_a_legacy_client(
    service: TokenService, argon2_checks: list[int]
) -> None:
    """The per-client-id budget refuses addresses that have failed themselves; an address with
    no failure in the window is still checked, so the real client gets in and its hash is
    upgraded to sha256$. The id's budget stays the same after the upgrade (the answer never
    depends on the kind of hash an id holds)."""
    app = _app(service, _limits(failures_per_ip=20, failures_per_client=3), FakeClock())
    attackers = [f"198.51.100.{n}" for n in range(1, 6)]
    for address in attackers:
        async with _from(app, address) as http:
            wrong = await http.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
            assert wrong.status_code == 401  # each address's first attempt is checked
    async with _from(app, attackers[0]) as http:
        checks = len(argon2_checks)
        again = await http.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
        assert again.status_code == 429  # failed before, and the client id's budget is spent
        assert len(argon2_checks) == checks
    async with _from(app, "203.0.113.7") as real:
        ok = await real.post("/oauth/token", data=CC, auth=("legacy", LEGACY_SECRET))
        assert ok.status_code == 200
    upgraded = await service.store.get_client("legacy")
    assert upgraded is not None
    assert upgraded.secret_hash == _passwords.hash_client_secret(LEGACY_SECRET)
    async with _from(app, attackers[0]) as http:
        for _ in range(5):  # the same answer as before the upgrade
            wrong = await http.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
            assert wrong.status_code == 429
    async with _from(app, "203.0.113.7") as real:
        ok = await real.post("/oauth/token", data=CC, auth=("legacy", LEGACY_SECRET))
        assert ok.status_code == 200


async def test_failure_budgets_from_settings_apply_to_the_real_app(tmp_path: Path) -> None:
    """Settings.token_rate_failures_per_address (TOKENVEIL_TOKEN_RATE_FAILURES_PER_ADDRESS)
    reaches the real app: past it, 429 slow_down with Retry-After."""
    # Counters use fixed wall-clock windows: an hour keeps the three logins in one window (with
    # the 10 s default, about one run in thirty straddled a boundary and saw 200, not 429).
    settings = make_settings(tmp_path, token_rate_failures_per_address=2, token_rate_window=3600.0)
    async with running(settings, MemoryStore()) as (http, service, _):
        await service.add_user("alice", PASSWORD, scopes=["profile"])
        for _ in range(2):
            assert (await login(http, password="wrong password")).status_code == 400
        limited = await login(http)
        assert limited.status_code == 429
        assert limited.json()["error"] == "slow_down"
        assert "retry-after" in limited.headers
        public = await http.post("/oauth/token", data={**CC, "client_id": DEMO_CLIENT_ID})
        assert public.status_code != 429  # no credential check: nothing to refuse


async def test_requests_without_an_address_share_one_failure_budget(
    service: TokenService, argon2_checks: list[int]
) -> None:
    """With no client address (a Unix socket, no trusted forwarding header), password grants
    still spend a failure budget: one shared by every such request, refused before argon2."""
    app = _app(service, _limits(failures_per_ip=3), FakeClock())
    async with _without_address(app) as http:
        for _ in range(3):
            assert (await login(http, password="wrong password")).status_code == 400
        checks = len(argon2_checks)
        refused = await login(http)
        assert refused.status_code == 429
        assert refused.json()["error"] == "slow_down"
        assert len(argon2_checks) == checks
    async with _from(app, "192.0.2.30") as other:  # a known address keeps its own budget
        assert (await login(other)).status_code == 200


async def test_a_request_without_an_address_is_checked_until_that_address_fails(
    service: TokenService,
) -> None:
    """The per-client-id budget exempts the shared unknown address while it has no failure in
    the window, as any other address: failures sent in a legacy client's name from elsewhere do
    not lock out the real client reaching the server through a Unix socket."""
    app = _app(service, _limits(failures_per_ip=20, failures_per_client=3), FakeClock())
    for n in range(1, 6):
        async with _from(app, f"198.51.100.{n}") as http:
            wrong = await http.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
            assert wrong.status_code == 401
    async with _without_address(app) as real:
        ok = await real.post("/oauth/token", data=CC, auth=("legacy", LEGACY_SECRET))
        assert ok.status_code == 200
        wrong = await real.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
        assert wrong.status_code == 401
        again = await real.post("/oauth/token", data=CC, auth=("legacy", "tvc_wrong"))
        assert again.status_code == 429  # failed now, and the id's budget is spent


Answer = tuple[int, object, str | None]


async def _answers(http: httpx.AsyncClient, client_id: str, times: int) -> list[Answer]:
    found = []
    for _ in range(times):
        answer = await http.post("/oauth/token", data=CC, auth=(client_id, "tvc_wrong"))
        found.append((answer.status_code, answer.json(), answer.headers.get("retry-after")))
    return found


async def test_unknown_modern_and_legacy_client_ids_get_the_same_answers(
    service: TokenService,
) -> None:
    """Wrong secrets for an unknown id, a sha256$ client and a legacy argon2id client give the
    same status and body sequences: the budgets are reserved before the client is looked up and
    keyed on the submitted id, so a 429 never tells which ids exist or hold a legacy hash."""
    await service.store.add_client(
        Client(
            client_id="modern",
            secret_hash=_passwords.hash_client_secret("tvc_modern"),
            grant_types=("client_credentials",),
        )
    )
    app = _app(service, _limits(failures_per_ip=3, failures_per_client=3), FakeClock())
    ids = ("nobody", "modern", "legacy")
    per_address = []
    for n, client_id in enumerate(ids):  # one address per id: the address's budget
        async with _from(app, f"192.0.2.{40 + n}") as http:
            per_address.append(await _answers(http, client_id, 5))
    assert [status for status, _, _ in per_address[0]] == [401, 401, 401, 429, 429]
    assert per_address[1] == per_address[0]
    assert per_address[2] == per_address[0]
    async with _from(app, "192.0.2.50") as http:  # one address, its budget spent on an unknown id
        await _answers(http, "nobody2", 3)
        spent = [(await _answers(http, client_id, 1))[0] for client_id in ids]
    assert spent[0][0] == 429
    assert spent[1] == spent[0]
    assert spent[2] == spent[0]
    per_id = []
    for n, client_id in enumerate(ids):  # each id failed from many addresses: the id's budget
        for m in range(4):
            async with _from(app, f"198.51.{n}.{m}") as http:
                await _answers(http, client_id, 1)
        async with _from(app, f"203.0.113.{n}") as http:
            per_id.append(await _answers(http, client_id, 2))
    assert [status for status, _, _ in per_id[0]] == [401, 429]
    assert per_id[1] == per_id[0]
    assert per_id[2] == per_id[0]


@pytest.mark.redis
async def test_failure_budget_is_shared_by_instances_through_redis(
    service: TokenService, redis_url: str, redis_namespace: str
) -> None:
    """With counts in Redis (the scaled store's default), failures on one instance spend the
    budget on every instance, and a success on either gives its reservation back."""
    from tokenveil.store.redis import RedisRateCounter, connect

    client = connect(redis_url)
    prefix = f"{redis_namespace}fail-budget:{time.time_ns()}:"
    try:
        clock = FakeClock()
        limits = _limits(failures_per_ip=2)
        one = _app(service, limits, clock, RedisRateCounter(client, 10.0, prefix=prefix))
        two = _app(service, limits, clock, RedisRateCounter(client, 10.0, prefix=prefix))
        async with _from(one, "192.0.2.20") as a, _from(two, "192.0.2.20") as b:
            assert (await login(a, password="wrong password")).status_code == 400
            assert (await login(b)).status_code == 200
            assert (await login(b, password="wrong password")).status_code == 400
            assert (await login(a)).status_code == 429
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
