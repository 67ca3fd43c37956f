"""Bounded sliding windows of token uses, per access token (``jti``), refresh family and subject.

Each window is bounded by count and by age, and the number of windows kept is bounded too (least
recently used go first), so memory stays bounded whatever the traffic. A :class:`UsageRecord`
holds pseudonyms, never an IP, user agent or subject in clear: what is stored cannot identify a
person without the pseudonymization key.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

__all__ = ["InMemoryWindowStore", "UsageRecord", "UsageWindows", "WindowLimits", "WindowStore"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One use of an access token.

    ``sub``, ``ip`` and ``user_agent`` are keyed pseudonyms (see :class:`Pseudonymizer`);
    ``country`` is ISO 3166 alpha-2, ``asn`` the network operator's name, ``lat``/``lon``
    coarse coordinates when City data is configured. ``at`` is Unix seconds.
    """

    jti: str
    family_id: str | None
    sub: str
    ip: str | None
    country: str | None
    asn: str | None
    user_agent: str | None
    at: float
    lat: float | None = None
    lon: float | None = None

    def dumps(self) -> str:
        """Compact JSON, for stores that keep records as strings."""
        return json.dumps(
            [
                self.jti,
                self.family_id,
                self.sub,
                self.ip,
                self.country,
                self.asn,
                self.user_agent,
                self.at,
                self.lat,
                self.lon,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str | bytes) -> UsageRecord:
        jti, family_id, sub, ip, country, asn, user_agent, at, lat, lon = json.loads(text)
        return cls(jti, family_id, sub, ip, country, asn, user_agent, float(at), lat, lon)


@dataclass(frozen=True, slots=True)
class UsageWindows:
    """Recent uses of the token, of its family and of its subject, oldest first, the new one last.

    ``by_family`` is empty for a token that has no family.
    """

    by_jti: tuple[UsageRecord, ...]
    by_family: tuple[UsageRecord, ...]
    by_sub: tuple[UsageRecord, ...]
    #: Requests of the subject per ``rate_bucket`` seconds, oldest first, the current one last.
    #: Counters, not records, so a burst cannot push the subject's own history out of view.
    sub_rate: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class WindowLimits:
    """How much history is kept: per window ``max_records`` within ``max_age`` seconds, and at
    most ``max_keys`` windows in memory (a Redis store expires idle windows after ``max_age``)."""

    max_records: int = 200
    #: The subject's window is kept shorter: its request rate lives in counters (``sub_rate``)
    #: and no detector reads its records, which cost memory and, in Redis, decoding time.
    max_sub_records: int = 32
    max_age: float = 3600.0
    max_keys: int = 50_000
    rate_bucket: float = 60.0
    rate_buckets: int = 60

    def bucket(self, at: float) -> int:
        return int(at // self.rate_bucket)


class WindowStore(Protocol):
    async def append(self, record: UsageRecord, *, now: float) -> UsageWindows:
        """Add ``record`` to its three windows and return them, pruned to the limits.

        One round trip to a remote store. Raises :class:`tokenveil.errors.StoreUnavailable`
        when the store cannot be reached.
        """
        ...


def window_keys(record: UsageRecord) -> tuple[str, str | None, str]:
    """The window names of a record: by jti, by family (None without one), by subject."""
    family = f"f:{record.family_id}" if record.family_id else None
    return f"j:{record.jti}", family, f"s:{record.sub}"


def prune(
    records: list[UsageRecord], now: float, limits: WindowLimits, max_records: int | None = None
) -> tuple[UsageRecord, ...]:
    """Oldest first, newer than ``now - max_age``, at most ``max_records`` (the newest)."""
    oldest = now - limits.max_age
    kept = sorted((r for r in records if r.at >= oldest), key=lambda r: r.at)
    return tuple(kept[-(max_records or limits.max_records) :])


class InMemoryWindowStore:
    """Windows in process memory: one instance, or tests. Bounded by :class:`WindowLimits`."""

    def __init__(self, limits: WindowLimits | None = None) -> None:
        self.limits = limits or WindowLimits()
        self._windows: OrderedDict[str, deque[UsageRecord]] = OrderedDict()
        self._rates: OrderedDict[str, dict[int, int]] = OrderedDict()

    def __repr__(self) -> str:
        return f"InMemoryWindowStore(windows={len(self._windows)})"

    def __len__(self) -> int:
        return len(self._windows)

    async def append(self, record: UsageRecord, *, now: float) -> UsageWindows:
        jti_key, family_key, sub_key = window_keys(record)
        by_jti = self._push(jti_key, record, now)
        by_family = self._push(family_key, record, now) if family_key else ()
        by_sub = self._push(sub_key, record, now, self.limits.max_sub_records)
        while len(self._windows) > self.limits.max_keys:
            self._windows.popitem(last=False)
        return UsageWindows(by_jti, by_family, by_sub, self._count(sub_key, record.at, now))

    def _count(self, key: str, at: float, now: float) -> tuple[int, ...]:
        limits = self.limits
        counts = self._rates.get(key)
        if counts is None:
            counts = self._rates[key] = {}
        else:
            self._rates.move_to_end(key)
        bucket = limits.bucket(at)
        counts[bucket] = counts.get(bucket, 0) + 1
        current = limits.bucket(now)
        first = current - limits.rate_buckets + 1
        if len(counts) > limits.rate_buckets:
            for old in [b for b in counts if b < first]:
                del counts[old]
        while len(self._rates) > limits.max_keys:
            self._rates.popitem(last=False)
        return tuple(counts.get(b, 0) for b in range(first, current + 1))

    def _push(
        self, key: str, record: UsageRecord, now: float, max_records: int | None = None
    ) -> tuple[UsageRecord, ...]:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque(maxlen=max_records or self.limits.max_records)
        else:
            self._windows.move_to_end(key)
        window.append(record)
        oldest = now - self.limits.max_age
        while window and window[0].at < oldest:
            window.popleft()
        return tuple(window)
