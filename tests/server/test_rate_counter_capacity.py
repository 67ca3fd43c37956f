"""A full in-process rate counter fails safe: keys beyond its capacity share one count, so a
flood of new addresses cannot switch every limit off."""

from __future__ import annotations

from tokenveil.store._ratelimit import MemoryRateCounter

WINDOW = 10.0
T0 = 1_700_000_000.0  # a window boundary


async def test_a_full_memory_counter_counts_new_keys_in_one_shared_count() -> None:
    """Past max_keys, new keys are counted together (never "first request" for free), refunds
    give back to that shared count, known keys keep theirs, and a new window starts empty."""
    counter = MemoryRateCounter(WINDOW, max_keys=2)
    await counter.hit("fail-ip:192.0.2.1", now=T0)
    await counter.hit("fail-ip:192.0.2.2", now=T0)
    counts = [(await counter.hit(f"fail-ip:198.51.100.{n}", now=T0)).count for n in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    assert (await counter.hit("fail-ip:198.51.100.0", now=T0)).count == 6
    await counter.refund("fail-ip:198.51.100.9", now=T0)
    assert (await counter.hit("fail-ip:198.51.100.9", now=T0)).count == 6
    assert (await counter.hit("fail-ip:192.0.2.1", now=T0)).count == 2
    assert (await counter.hit("fail-ip:198.51.100.0", now=T0 + WINDOW)).count == 1
    assert "keys=1" in repr(counter)
