"""The WindowStore contract, run on the in-memory and the Redis backends alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tokenveil.monitor import InMemoryWindowStore, UsageRecord, WindowLimits, WindowStore
from tokenveil.store.redis import Redis, RedisWindowStore

T0 = 1_800_000_020.0 - 1_800_000_020.0 % 60  # a bucket boundary

Factory = Callable[[WindowLimits], WindowStore]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_store(request: pytest.FixtureRequest) -> Factory:
    if request.param == "memory":
        return InMemoryWindowStore
    client: Redis = request.getfixturevalue("client")
    prefix: str = request.getfixturevalue("prefix")
    return lambda limits: RedisWindowStore(client, prefix=prefix, limits=limits)


def rec(at: float, *, jti: str = "j1", family: str | None = "f1", ip: str = "ip") -> UsageRecord:
    return UsageRecord(jti, family, "SUBJ", ip, "FR", "Orange", "ua", T0 + at)


async def test_three_windows_hold_the_new_record_last(make_store: Factory) -> None:
    """Token, family and subject windows list uses oldest first, the new one last."""
    store = make_store(WindowLimits())
    await store.append(rec(0, jti="a"), now=T0)
    got = await store.append(rec(5, jti="b", ip="ip2"), now=T0 + 5)
    assert [r.jti for r in got.by_jti] == ["b"]
    assert [r.jti for r in got.by_family] == ["a", "b"]
    assert [r.jti for r in got.by_sub] == ["a", "b"]
    assert got.by_sub[-1] == rec(5, jti="b", ip="ip2")


async def test_no_family_means_an_empty_family_window(make_store: Factory) -> None:
    """A use without family_id gets no family window."""
    got = await make_store(WindowLimits()).append(rec(0, family=None), now=T0)
    assert got.by_family == ()
    assert len(got.by_jti) == 1


async def test_windows_are_bounded_by_count_and_age(make_store: Factory) -> None:
    """At most max_records per window, none older than max_age."""
    store = make_store(WindowLimits(max_records=3, max_age=100))
    for i in range(6):
        got = await store.append(rec(i), now=T0 + i)
    assert [r.at - T0 for r in got.by_jti] == [3, 4, 5]
    got = await store.append(rec(104), now=T0 + 104)
    assert [r.at - T0 for r in got.by_jti] == [4, 5, 104]


async def test_subject_window_has_its_own_shorter_bound(make_store: Factory) -> None:
    """The subject's window keeps max_sub_records; token windows keep max_records."""
    store = make_store(WindowLimits(max_records=5, max_sub_records=2))
    for i in range(6):
        got = await store.append(rec(i), now=T0 + i)
    assert [r.at - T0 for r in got.by_sub] == [4, 5]
    assert [r.at - T0 for r in got.by_jti] == [1, 2, 3, 4, 5]


async def test_subject_rate_counts_per_bucket(make_store: Factory) -> None:
    """sub_rate has one counter per bucket, the current one last, empty buckets zero."""
    store = make_store(WindowLimits(rate_bucket=60, rate_buckets=4))
    await store.append(rec(0), now=T0)
    for i in range(3):
        got = await store.append(rec(120 + i), now=T0 + 120 + i)
    assert got.sub_rate == (0, 1, 0, 3)


@pytest.mark.redis
async def test_redis_observation_is_one_round_trip_and_keys_expire(
    client: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the script is loaded an observation is one command; every key carries a TTL."""
    store = RedisWindowStore(client, prefix=prefix, limits=WindowLimits(max_age=600))
    await store.append(rec(0), now=T0)  # loads the script (EVALSHA, SCRIPT LOAD, EVALSHA)
    commands: list[Any] = []
    real: Any = client.execute_command

    async def counting(*args: Any, **kwargs: Any) -> Any:
        commands.append(args[0])
        return await real(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", counting)
    got = await store.append(rec(1), now=T0 + 1)
    monkeypatch.undo()
    assert commands == ["EVALSHA"]
    assert len(got.by_jti) == 2
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 4  # jti, family and subject windows, the subject's rate hash
    for key in keys:
        assert 0 < await client.ttl(key) <= 3600


@pytest.mark.redis
async def test_redis_rate_hash_drops_old_buckets(client: Redis, prefix: str) -> None:
    """Counters of buckets that left the rate window are deleted, so the hash stays small."""
    limits = WindowLimits(rate_bucket=60, rate_buckets=3)
    store = RedisWindowStore(client, prefix=prefix, limits=limits)
    for minute in range(10):
        got = await store.append(rec(minute * 60), now=T0 + minute * 60)
    assert got.sub_rate == (1, 1, 1)
    assert await client.hlen(f"{prefix}w:r:SUBJ") <= 4


async def test_field_values_with_separators_round_trip(make_store: Factory) -> None:
    """Operator names with newlines, commas or quotes come back exactly as stored."""
    odd = UsageRecord("j1", "f1", "SUBJ", "ip", "FR", 'A\nB, "C"', "ua", T0)
    got = await make_store(WindowLimits()).append(odd, now=T0)
    assert got.by_jti == (odd,)
    assert got.by_sub == (odd,)
