"""Usage windows are bounded by count, by age and by number of windows; rates are counters."""

from __future__ import annotations

from tokenveil.monitor import InMemoryWindowStore, UsageRecord, WindowLimits

from .conftest import T0, rec


async def test_windows_by_token_family_and_subject_hold_the_new_record_last() -> None:
    """Each window lists its uses oldest first, the appended one last."""
    store = InMemoryWindowStore()
    await store.append(rec(0, jti="a"), now=T0)
    got = await store.append(rec(5, jti="b"), now=T0 + 5)
    assert [r.jti for r in got.by_jti] == ["b"]
    assert [r.jti for r in got.by_family] == ["a", "b"]
    assert [r.jti for r in got.by_sub] == ["a", "b"]


async def test_token_without_family_has_an_empty_family_window() -> None:
    """A use with no family_id gets no family window."""
    got = await InMemoryWindowStore().append(rec(0, family=None), now=T0)
    assert got.by_family == ()


async def test_window_keeps_at_most_max_records() -> None:
    """Older records beyond max_records are dropped."""
    store = InMemoryWindowStore(WindowLimits(max_records=3))
    for i in range(10):
        got = await store.append(rec(i, jti="a"), now=T0 + i)
    assert [r.at - T0 for r in got.by_jti] == [7, 8, 9]


async def test_window_forgets_records_older_than_max_age() -> None:
    """Records older than max_age seconds fall out of the window."""
    store = InMemoryWindowStore(WindowLimits(max_age=60))
    await store.append(rec(0), now=T0)
    got = await store.append(rec(61), now=T0 + 61)
    assert [r.at - T0 for r in got.by_jti] == [61]


async def test_least_recently_used_windows_are_evicted() -> None:
    """At most max_keys windows are kept overall: memory stays bounded."""
    store = InMemoryWindowStore(WindowLimits(max_keys=6))
    for i in range(50):
        await store.append(rec(i, jti=f"j{i}", family=f"f{i}", sub=f"s{i}"), now=T0 + i)
    assert len(store) <= 6


async def test_subject_rate_counts_requests_per_bucket() -> None:
    """sub_rate holds one counter per bucket, the current bucket last, empty ones zero."""
    store = InMemoryWindowStore(WindowLimits(rate_bucket=60, rate_buckets=4))
    start = T0 - T0 % 60
    await store.append(rec(start - T0), now=start)
    for i in range(3):
        got = await store.append(rec(start - T0 + 120 + i), now=start + 120 + i)
    assert got.sub_rate == (0, 1, 0, 3)


async def test_subject_rate_survives_a_burst_that_overflows_the_records() -> None:
    """A burst larger than max_records does not erase the subject's past rate."""
    limits = WindowLimits(max_records=10, max_sub_records=10, rate_bucket=60, rate_buckets=5)
    store = InMemoryWindowStore(limits)
    start = T0 - T0 % 60
    await store.append(rec(start - T0), now=start)
    for _ in range(50):
        got = await store.append(rec(start - T0 + 240), now=start + 240)
    assert got.sub_rate == (1, 0, 0, 0, 50)
    assert len(got.by_sub) == 10


def test_record_round_trips_through_json() -> None:
    """dumps/loads keep every field (the Redis store keeps records this way)."""
    record = UsageRecord("j", None, "S", "ip", "FR", "Orange", "ua", T0, 48.9, 2.4)
    assert UsageRecord.loads(record.dumps()) == record
