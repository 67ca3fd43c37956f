"""Fixed-window request counters, the state behind the token endpoint's rate limits.

A window is the interval ``[n * window, (n + 1) * window)`` of wall-clock seconds, the same on
every instance, so counters kept in Redis (:class:`tokenveil.store.redis.RedisRateCounter`) add
up across instances; :class:`MemoryRateCounter` counts for one process. ``hit`` counts one
request and says how many the key has made in the current window, and when that window ends.
``refund`` takes back one hit made at ``now`` (a reservation that turned out not to be spent,
such as a successful authentication against the failed-authentication budget); a refund for a
window that has passed, or for a key with nothing counted, changes nothing.

Keys are whatever the caller limits on (a client id, a client address). A counter lives for one
window only: nothing is kept about a key once its window has passed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Hit", "MemoryRateCounter", "RateCounter", "window_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Hit:
    """One counted request: the key's count in this window, and seconds until the window ends."""

    count: int
    retry_after: float


class RateCounter(Protocol):
    async def hit(self, key: str, *, now: float) -> Hit:
        """Count one request for ``key`` in the window holding ``now``."""
        ...

    async def refund(self, key: str, *, now: float) -> None:
        """Take back one hit of ``key`` made at ``now`` (same window), never below zero."""
        ...

    async def peek(self, key: str, *, now: float) -> Hit:
        """``key``'s count in the window holding ``now``, without counting anything."""
        ...


def window_of(now: float, window: float) -> tuple[int, float]:
    """The window number holding ``now`` and the seconds left in it (never zero)."""
    slot = math.floor(now / window)
    return slot, max((slot + 1) * window - now, 1e-3)


class MemoryRateCounter:
    """Counters in this process. Memory is bounded: the counts of the previous window are
    dropped when a new one starts, and at most ``max_keys`` keys are counted per window. When
    they are all taken, a new key is counted in one overflow count shared by every key beyond
    (fail safe: a flood of new keys spends that shared budget, it never makes limits vanish)."""

    def __init__(self, window: float, *, max_keys: int = 100_000) -> None:
        if window <= 0 or max_keys <= 0:
            raise ValueError("window and max_keys must be positive")
        self.window = window
        self._max_keys = max_keys
        self._slot: int | None = None
        self._counts: dict[str, int] = {}
        self._overflow = 0

    def __repr__(self) -> str:
        return f"MemoryRateCounter(window={self.window}, keys={len(self._counts)})"

    async def hit(self, key: str, *, now: float) -> Hit:
        slot, left = window_of(now, self.window)
        if slot != self._slot:  # every count kept is of the current window: nothing expired
            self._slot = slot
            self._counts = {}
            self._overflow = 0
        count = self._counts.get(key)
        if count is None and len(self._counts) >= self._max_keys:
            if self._overflow == 0:  # once per window
                log.warning("rate counter full; new keys share one count until the window ends")
            self._overflow += 1
            return Hit(self._overflow, left)
        count = (count or 0) + 1
        self._counts[key] = count
        return Hit(count, left)

    async def peek(self, key: str, *, now: float) -> Hit:
        slot, left = window_of(now, self.window)
        if slot != self._slot:
            return Hit(0, left)
        count = self._counts.get(key)
        if count is None and len(self._counts) >= self._max_keys:
            return Hit(self._overflow, left)  # where a hit of this key would be counted
        return Hit(count or 0, left)

    async def refund(self, key: str, *, now: float) -> None:
        slot, _ = window_of(now, self.window)
        if slot != self._slot:
            return
        count = self._counts.get(key)
        if count is None:  # counted in the overflow, if anywhere
            self._overflow = max(self._overflow - 1, 0)
        elif count <= 1:
            del self._counts[key]
        else:
            self._counts[key] = count - 1
