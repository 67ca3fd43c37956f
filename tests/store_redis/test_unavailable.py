"""Pointed at a closed port, every Redis backend raises StoreUnavailable: fail closed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tokenveil.errors import StoreUnavailable
from tokenveil.monitor import UsageRecord
from tokenveil.store.redis import (
    Redis,
    RedisReplayCache,
    RedisRevocations,
    RedisWindowStore,
    connect,
)

NOW = 1_800_000_000.0
RECORD = UsageRecord("j", "f", "S", "ip", "FR", None, None, NOW)

Operation = Callable[[Redis], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "revoke_jti": lambda c: RedisRevocations(c).revoke_jti("j", NOW),
    "revoked_jtis": lambda c: RedisRevocations(c).revoked_jtis(NOW),
    "is_revoked": lambda c: RedisRevocations(c).is_revoked("j", NOW),
    "set_cutoff": lambda c: RedisRevocations(c).set_cutoff(NOW),
    "get_cutoff": lambda c: RedisRevocations(c).get_cutoff(),
    "state_version": lambda c: RedisRevocations(c).state_version(),
    "bump_state_version": lambda c: RedisRevocations(c).bump_state_version(),
    "replay.first_use": lambda c: RedisReplayCache(c).first_use("k", now=NOW, ttl=60),
    "windows.append": lambda c: RedisWindowStore(c).append(RECORD, now=NOW),
}


@pytest.mark.parametrize("operation", list(OPERATIONS), ids=list(OPERATIONS))
async def test_closed_port_raises_store_unavailable(closed_url: str, operation: str) -> None:
    """Each operation raises StoreUnavailable from the driver error, without the URL."""
    client = connect(closed_url, password="hunter2-secret")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await OPERATIONS[operation](client)
    finally:
        await client.aclose()
    assert isinstance(caught.value.__cause__, RedisConnectionError | OSError)
    assert "hunter2" not in str(caught.value)
    assert closed_url not in str(caught.value)
