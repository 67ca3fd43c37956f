"""With Redis: changes pushed to other instances at once; an outage fails closed and heals."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.defence_integration._proxy import TcpProxy
from tests.server._app import make_settings, running
from tokenveil.config import Settings
from tokenveil.errors import RevokedToken, StoreUnavailable
from tokenveil.service import TokenService

pytestmark = pytest.mark.redis


@pytest.fixture
async def pair(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[TokenService, TokenService]]:
    """Two instances on one SQLite file and one Redis prefix; polling far too slow to matter."""
    settings = make_settings(
        tmp_path, redis_url=redis_url, redis_prefix=redis_prefix, state_poll_interval=30.0
    )
    a = await TokenService.open(settings)
    b = await TokenService.open(settings)
    a.start_background()
    b.start_background()
    try:
        for service in (a, b):
            assert service._listener is not None
            async with asyncio.timeout(5):
                await service._listener.wait_connected()
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _rejected_within(service: TokenService, token: str, limit: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        try:
            service.verify(token)
        except RevokedToken:
            return time.perf_counter() - started
        await asyncio.sleep(0.001)
    raise AssertionError(f"still accepted after {limit} s")


async def test_revocation_and_kill_switch_are_pushed_to_the_other_instance(
    pair: tuple[TokenService, TokenService],
) -> None:
    """A's revocation and purge reach B by pub/sub well before B's 30 s poll."""
    a, b = pair
    first = a.issuer.issue(sub="usr_a", client_id="c", scope=["profile"])
    second = a.issuer.issue(sub="usr_b", client_id="c", scope=["profile"])
    assert b.verify(first.token).sub == "usr_a"
    assert b.verify(second.token).sub == "usr_b"

    await a.revoke_access(first.jti, first.expires_at)
    revoke_delay = await _rejected_within(b, first.token, 1.0)

    await a.purge()
    purge_delay = await _rejected_within(b, second.token, 1.0)
    after = b.issuer.issue(sub="usr_b", client_id="c").token
    assert a.verify(after).sub == "usr_b"
    print(f"pub/sub delay: revoke {revoke_delay * 1000:.1f} ms, purge {purge_delay * 1000:.1f} ms")


async def test_emergency_rotation_reaches_the_other_instance(
    pair: tuple[TokenService, TokenService],
) -> None:
    """purge(rotate_keys=True) on A: B rejects the old key's tokens and signs with the new key."""
    a, b = pair
    old = b.issuer.issue(sub="usr_a", client_id="c").token
    report = await a.purge(rotate_keys=True)
    await _rejected_within(b, old, 1.0)
    assert b.keyring.signing_key().kid == report.active_kid


async def test_redis_outage_fails_closed_with_one_log_line_and_heals(
    tmp_path: Path, redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis on a closed port: 503 (never 200, never 500); once it answers, 200 again."""
    port = free_port()
    target = httpx.URL(redis_url)
    proxy = TcpProxy(port, (target.host, target.port or 6379))
    settings: Settings = make_settings(
        tmp_path,
        redis_url=f"redis://127.0.0.1:{port}/0",
        redis_prefix=redis_prefix,
        state_poll_interval=0.2,
    )
    caplog.set_level(logging.WARNING, logger="tokenveil")
    async with running(settings) as (client, service, _):
        token = service.issuer.issue(sub="usr_a", client_id="c", scope=["profile"]).token
        headers = {"Authorization": f"Bearer {token}"}
        # Closed port from the start: nothing is verified, and no token is issued either.
        assert (await client.get("/api/me", headers=headers)).status_code == 503
        login = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        )
        assert login.status_code in (401, 503)

        await proxy.start()
        assert await _status_within(client, headers, 200, 8.0) in (404, 200)

        await proxy.stop()
        # The view goes stale after the staleness limit (5 s): then 503, fail closed.
        assert await _status_within(client, headers, 503, service.staleness_limit + 3) == 503
        outage_lines = [
            r for r in caplog.records if "unreachable" in r.getMessage() and r.levelname == "ERROR"
        ]
        assert len(outage_lines) == 2  # one at start-up, one for the outage
        assert redis_url not in caplog.text

        await proxy.start()
        assert await _status_within(client, headers, 200, 8.0) in (404, 200)
        assert any("reachable again" in r.getMessage() for r in caplog.records)
    await proxy.stop()


async def _status_within(
    client: httpx.AsyncClient, headers: dict[str, str], wanted: int, limit: float
) -> int:
    """Poll /api/me until it answers ``wanted`` (404: the test user does not exist; it passed
    authentication, which is what matters here)."""
    deadline = time.monotonic() + limit
    status = 0
    while time.monotonic() < deadline:
        status = (await client.get("/api/me", headers=headers)).status_code
        if status == wanted or (wanted == 200 and status == 404):
            return status
        assert status in (200, 404, 503), status
        await asyncio.sleep(0.1)
    raise AssertionError(f"/api/me still answers {status} after {limit} s, wanted {wanted}")


@pytest.mark.postgres
async def test_postgres_outage_fails_closed_and_heals(
    tmp_path: Path,
    fresh_postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL gone (Redis fine): 503 after the staleness limit, 200 once it is back."""
    port = free_port()
    proxy = TcpProxy(port, ("127.0.0.1", 5432))
    await proxy.start()
    database_url = fresh_postgres_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        state_poll_interval=0.2,
    )
    caplog.set_level(logging.WARNING, logger="tokenveil")
    async with running(settings) as (_, service, _):
        # The verifier alone: demo routes read PostgreSQL themselves and would 503 at once.
        token = service.issuer.issue(sub="usr_a", client_id="c", scope=["profile"]).token
        assert service.verify(token).sub == "usr_a"
        await proxy.stop()
        await _verify_until(service, token, fails=True, limit=service.staleness_limit + 3)
        assert any(
            "store unreachable" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records
        )
        await proxy.start()
        await _verify_until(service, token, fails=False, limit=8.0)
    await proxy.stop()
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert fresh_postgres_url not in caplog.text


async def _verify_until(service: TokenService, token: str, *, fails: bool, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            service.verify(token)
            if not fails:
                return
        except StoreUnavailable:
            if fails:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"verification did not {'fail' if fails else 'pass'} within {limit} s")
