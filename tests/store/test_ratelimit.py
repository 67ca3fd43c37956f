"""Fixed-window rate counters: in process and in Redis, the same behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tokenveil.store._ratelimit import MemoryRateCounter, RateCounter

WINDOW = 10.0
T0 = 1_700_000_000.0  # a window boundary (divisible by 10)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def counter(request: pytest.FixtureRequest) -> AsyncIterator[RateCounter]:
    if request.param == "memory":
        yield MemoryRateCounter(WINDOW)
        return
    from tokenveil.store.redis import RedisRateCounter, connect

    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_namespace") + "rate-test:"
    client = connect(url)
    try:
        yield RedisRateCounter(client, WINDOW, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_counts_per_key_within_a_window(counter: RateCounter) -> None:
    """Each key counts on its own; retry_after is the time left in the window."""
    first = await counter.hit("ip:192.0.2.1", now=T0 + 2)
    second = await counter.hit("ip:192.0.2.1", now=T0 + 3)
    other = await counter.hit("ip:192.0.2.2", now=T0 + 3)
    assert (first.count, second.count, other.count) == (1, 2, 1)
    assert second.retry_after == pytest.approx(7.0)


async def test_a_new_window_starts_from_zero(counter: RateCounter) -> None:
    """The count resets at the window boundary, the same on every instance."""
    for _ in range(3):
        await counter.hit("client:web", now=T0 + 9.5)
    assert (await counter.hit("client:web", now=T0 + WINDOW)).count == 1


async def test_memory_counter_forgets_old_windows_and_is_bounded() -> None:
    """Past windows are dropped; keys beyond max_keys share one count (fail safe)."""
    counter = MemoryRateCounter(WINDOW, max_keys=2)
    await counter.hit("a", now=T0)
    await counter.hit("b", now=T0)
    assert (await counter.hit("c", now=T0)).count == 1
    assert (await counter.hit("c", now=T0)).count == 2
    assert (await counter.hit("a", now=T0)).count == 2
    await counter.hit("c", now=T0 + WINDOW)
    assert "keys=1" in repr(counter)


async def test_refund_takes_back_one_hit_of_the_same_window(counter: RateCounter) -> None:
    """A refund undoes one hit (a reservation not spent); never below zero, and a refund for a
    window that has passed leaves the new window's count alone."""
    await counter.hit("fail-ip:192.0.2.1", now=T0 + 1)
    await counter.hit("fail-ip:192.0.2.1", now=T0 + 2)
    await counter.refund("fail-ip:192.0.2.1", now=T0 + 2)
    assert (await counter.hit("fail-ip:192.0.2.1", now=T0 + 3)).count == 2
    for _ in range(5):
        await counter.refund("fail-ip:192.0.2.9", now=T0 + 3)  # nothing counted: no-op
    assert (await counter.hit("fail-ip:192.0.2.9", now=T0 + 3)).count == 1
    await counter.hit("fail-ip:192.0.2.1", now=T0 + WINDOW)
    await counter.refund("fail-ip:192.0.2.1", now=T0 + 3)  # the old window: no effect
    assert (await counter.hit("fail-ip:192.0.2.1", now=T0 + WINDOW + 1)).count == 2


async def test_peek_reads_a_count_without_counting(counter: RateCounter) -> None:
    """The failure budgets read before a credential check: peeking never spends anything."""
    assert (await counter.peek("k", now=T0)).count == 0
    await counter.hit("k", now=T0)
    for _ in range(3):
        seen = await counter.peek("k", now=T0)
        assert seen.count == 1
        assert 0 < seen.retry_after <= WINDOW
    assert (await counter.hit("k", now=T0)).count == 2
    assert (await counter.peek("k", now=T0 + WINDOW)).count == 0
