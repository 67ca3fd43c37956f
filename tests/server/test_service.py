"""TokenService: revocation lifetime, refresh ordering and scopes, background jobs, freshness."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.server._app import PASSWORD, make_settings
from tests.tokens._helpers import Clock
from tokenveil.errors import (
    InvalidGrant,
    InvalidScope,
    RevokedToken,
    StoreUnavailable,
)
from tokenveil.logs import capture_logs
from tokenveil.service import TokenService
from tokenveil.store import Client, MemoryStore, User, open_store

SECRET = "hunter2-db-password"


class FlakyStore(MemoryStore):
    """A memory store whose state reads can fail alone, and whose users can be switched off."""

    def __init__(self) -> None:
        super().__init__()
        self.state_down = False
        self.disabled: set[str] = set()
        self.deleted: set[str] = set()
        self.user_scopes: dict[str, tuple[str, ...]] = {}

    async def state_version(self) -> int:
        if self.state_down:
            raise StoreUnavailable("the store is unavailable")
        return await super().state_version()

    async def get_user(self, user_id: str) -> User | None:
        user = await super().get_user(user_id)
        if user is None or user_id in self.deleted:
            return None
        scopes = self.user_scopes.get(user_id, user.scopes)
        return dataclasses.replace(user, disabled=user_id in self.disabled, scopes=scopes)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[TokenService, FlakyStore, Clock]]:
    clock, store = Clock(), FlakyStore()
    service = await TokenService.open(make_settings(tmp_path), store=store, clock=clock)
    try:
        yield service, store, clock
    finally:
        await service.close()


async def _login(
    service: TokenService, scopes: tuple[str, ...] = ("profile", "orders")
) -> tuple[Client, User, str]:
    client, _ = await service.add_client("web", scopes=scopes)
    user = await service.add_user("alice", PASSWORD, scopes=scopes)
    answer = await service.password_grant(client, "alice", PASSWORD, None)
    assert answer.refresh_token is not None
    return client, user, answer.refresh_token


async def _reuse_events(store: MemoryStore) -> list[str]:
    return [e.kind for e in await store.list_events("refresh.reuse")]


# -- finding 1: a revocation outlives exp by the verification leeway --------------------------


async def test_revoked_access_token_stays_revoked_through_the_leeway_after_exp(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """The verifier accepts a token up to leeway past exp: its revocation must last as long."""
    service, _, clock = env
    issued = service.issuer.issue(sub="usr_a", client_id="web", scope=["profile"])
    await service.revoke_access(issued.jti, issued.expires_at)
    clock.now = issued.expires_at + service.settings.leeway / 2  # past exp, inside the leeway
    await service.sync(force=True)  # a reload from the store, as another instance sees it
    with pytest.raises(RevokedToken):
        service.verify(issued.token)


# -- finding 2: nothing that can fail runs after the refresh token is consumed ----------------


async def test_store_outage_fails_refresh_without_burning_the_token(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """A failed catch-up refuses the refresh; the same token works afterwards, no reuse alarm."""
    service, store, _ = env
    client, _, token = await _login(service)
    store.state_down = True
    with pytest.raises(StoreUnavailable):
        await service.refresh_grant(client, token, None)
    store.state_down = False
    answer = await service.refresh_grant(client, token, None)
    assert answer.refresh_token is not None
    assert await _reuse_events(store) == []


async def test_disabled_user_fails_refresh_without_burning_the_token(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """A disabled account is refused; re-enabled, its token still refreshes (no false reuse)."""
    service, store, _ = env
    client, user, token = await _login(service)
    store.disabled.add(user.id)
    with pytest.raises(InvalidGrant):
        await service.refresh_grant(client, token, None)
    store.disabled.clear()
    answer = await service.refresh_grant(client, token, None)
    assert answer.refresh_token is not None
    assert await _reuse_events(store) == []


async def test_deleted_user_revokes_the_family(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """A family whose user no longer exists is revoked (nothing to come back to)."""
    service, store, _ = env
    client, user, token = await _login(service)
    family = (await store.list_families())[0]
    store.deleted.add(user.id)
    with pytest.raises(InvalidGrant):
        await service.refresh_grant(client, token, None)
    revoked = await store.get_family(family.id)
    assert revoked is not None
    assert revoked.revoke_reason == "user_gone"


async def test_reused_refresh_token_still_revokes_the_family(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """The pre-consume checks never stand in the way of reuse detection."""
    service, store, _ = env
    client, _, token = await _login(service)
    await service.refresh_grant(client, token, None)
    with pytest.raises(InvalidGrant):
        await service.refresh_grant(client, token, None)
    assert await _reuse_events(store) == ["refresh.reuse"]


# -- finding 3: refresh grants only what the user and client still hold -----------------------


async def test_refresh_does_not_regrant_a_scope_removed_from_the_client(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """A scope taken from the client since login is left out of the refreshed token."""
    service, _, _ = env
    client, _, token = await _login(service)
    narrowed = dataclasses.replace(client, scopes=("profile",))
    answer = await service.refresh_grant(narrowed, token, None)
    assert answer.scope == "profile"
    assert service.verify(answer.access_token).scopes == {"profile"}


async def test_refresh_does_not_regrant_a_scope_removed_from_the_user(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """A scope taken from the user since login is left out of the refreshed token."""
    service, store, _ = env
    client, user, token = await _login(service)
    store.user_scopes[user.id] = ("orders",)
    answer = await service.refresh_grant(client, token, None)
    assert answer.scope == "orders"


async def test_asking_a_withdrawn_scope_on_refresh_is_refused_without_burning_the_token(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """Explicitly asking for a withdrawn scope is invalid_scope; the token is left usable."""
    service, store, _ = env
    client, _, token = await _login(service)
    narrowed = dataclasses.replace(client, scopes=("profile",))
    with pytest.raises(InvalidScope):
        await service.refresh_grant(narrowed, token, "orders")
    answer = await service.refresh_grant(narrowed, token, "profile")
    assert answer.scope == "profile"
    assert await _reuse_events(store) == []


# -- findings 7 and 8: the background task --------------------------------------------------


async def _until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_one_failing_background_iteration_is_logged_once_redacted_and_the_loop_goes_on(
    tmp_path: Path,
) -> None:
    """Any exception in one round gives one log line (type only, no secret); rounds continue."""
    settings = make_settings(tmp_path, state_poll_interval=0.01)
    service = await TokenService.open(settings, store=MemoryStore())
    calls = 0
    real_sync = service.sync

    async def sync(*, force: bool = False) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError(f"connect to postgresql://app:{SECRET}@db/x failed")
        return await real_sync(force=force)

    service.sync = sync  # type: ignore[method-assign]
    with capture_logs() as logs:
        service.start_background()
        await _until(lambda: calls >= 3)
        await service.close()
    lines = [r for r in logs if r.logger == "tokenveil.service"]
    assert len(lines) == 1
    assert lines[0].level == "ERROR"
    assert "RuntimeError" in lines[0].text
    assert all(SECRET not in r.text and "postgresql://" not in r.text for r in logs)


async def test_background_task_purges_expired_rows_on_its_interval(tmp_path: Path) -> None:
    """store.purge_expired runs at start and then every purge_expired_interval seconds."""
    clock = Clock()
    store = MemoryStore()
    settings = make_settings(tmp_path, state_poll_interval=0.01, purge_expired_interval=60)
    service = await TokenService.open(settings, store=store, clock=clock)
    runs: list[float] = []
    real_purge = store.purge_expired

    async def purge(now: float) -> int:
        runs.append(now)
        return await real_purge(now)

    store.purge_expired = purge  # type: ignore[method-assign]
    await store.revoke_jti("jti-dead", clock() - 1)
    await store.revoke_jti("jti-live", clock() + 600)
    service.start_background()
    try:
        await _until(lambda: len(runs) == 1)
        assert await store.revoked_jtis(clock() - 10) == {"jti-live"}
        clock.advance(30)
        await asyncio.sleep(0.1)
        assert len(runs) == 1  # not yet: half an interval
        clock.advance(31)
        await _until(lambda: len(runs) == 2)
        assert runs[1] - runs[0] >= 60
    finally:
        await service.close()


# -- finding 9: freshness without the background loop ----------------------------------------


async def test_service_without_background_loop_keeps_verifying_past_the_staleness_limit(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """A single-process library user who never starts the loop is not locked out after 5 s."""
    service, _, clock = env
    issued = service.issuer.issue(sub="usr_a", client_id="web", scope=["profile"])
    clock.advance(service.staleness_limit * 10)
    assert service.verify(issued.token).sub == "usr_a"
    assert (await service.verify_async(issued.token)).sub == "usr_a"


async def test_service_without_background_loop_sees_local_revocations_at_once(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """Changes made through the service apply to its own view without any sync."""
    service, _, clock = env
    issued = service.issuer.issue(sub="usr_a", client_id="web", scope=["profile"])
    clock.advance(100)
    await service.revoke_access(issued.jti, issued.expires_at)
    with pytest.raises(RevokedToken):
        service.verify(issued.token)


async def test_verify_async_without_loop_fails_closed_while_the_store_is_down(
    env: tuple[TokenService, FlakyStore, Clock],
) -> None:
    """Without the loop, verify_async polls the store when due and refuses while it fails."""
    service, store, clock = env
    issued = service.issuer.issue(sub="usr_a", client_id="web", scope=["profile"])
    clock.advance(service.settings.state_poll_interval)
    store.state_down = True
    with capture_logs() as logs, pytest.raises(StoreUnavailable):
        await service.verify_async(issued.token)
    with pytest.raises(StoreUnavailable):
        service.verify(issued.token)  # the sync path refuses too until a poll succeeds
    assert len([r for r in logs if r.logger == "tokenveil.service"]) == 1
    store.state_down = False
    clock.advance(service.settings.state_poll_interval)
    assert (await service.verify_async(issued.token)).sub == "usr_a"


async def test_verify_async_without_loop_sees_another_process_revocation(tmp_path: Path) -> None:
    """Two services on one SQLite file: a revocation by one reaches the other's verify_async."""
    clock = Clock()
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    settings = make_settings(tmp_path)
    server = await TokenService.open(settings, store=open_store(url), clock=clock)
    cli = await TokenService.open(settings, store=open_store(url), clock=clock)
    try:
        issued = server.issuer.issue(sub="usr_a", client_id="web", scope=["profile"])
        assert (await server.verify_async(issued.token)).sub == "usr_a"
        await cli.revoke_access(issued.jti, issued.expires_at)
        clock.advance(settings.state_poll_interval)
        with pytest.raises(RevokedToken):
            await server.verify_async(issued.token)
    finally:
        await cli.close()
        await server.close()


async def test_background_loop_still_fails_closed_when_the_view_goes_stale(
    tmp_path: Path,
) -> None:
    """With the loop started, a view unsynced past the staleness limit refuses every token."""
    clock = Clock()
    store = FlakyStore()
    settings = make_settings(tmp_path, state_poll_interval=0.01)
    service = await TokenService.open(settings, store=store, clock=clock)
    issued = service.issuer.issue(sub="usr_a", client_id="web", scope=["profile"])
    store.state_down = True
    service.start_background()
    try:
        clock.advance(service.staleness_limit + 1)
        with pytest.raises(StoreUnavailable):
            await service.verify_async(issued.token)
    finally:
        await service.close()
