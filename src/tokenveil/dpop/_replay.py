"""Where seen DPoP proof ``jti`` values are kept until the proof would be too old anyway.

RFC 9449 §11.1: a server that accepts a proof once must not accept it again. The cache only has
to remember a ``jti`` while its ``iat`` is inside the acceptance window; after that the ``iat``
check rejects the replay by itself.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from tokenveil.errors import StoreUnavailable

__all__ = ["InMemoryReplayCache", "ReplayCache"]


class ReplayCache(Protocol):
    async def first_use(self, key: str, *, now: float, ttl: float) -> bool:
        """Remember ``key`` for ``ttl`` seconds; True the first time, False on any repeat.

        Atomic: of two concurrent calls with one key exactly one gets True. A backend that
        cannot answer raises :class:`tokenveil.errors.StoreUnavailable` (the proof is refused).
        """
        ...


class InMemoryReplayCache:
    """A bounded in-process replay cache, for one instance (tests, the embedded server).

    When it is full of entries that have not expired yet it refuses new proofs with
    :class:`StoreUnavailable` rather than forget one early: forgetting would reopen a replay
    window (security invariant 9, fail closed).
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return f"InMemoryReplayCache(entries={len(self._entries)}, max_entries={self.max_entries})"

    def __len__(self) -> int:
        return len(self._entries)

    async def first_use(self, key: str, *, now: float, ttl: float) -> bool:
        self._purge(now)
        expires = self._entries.get(key)
        if expires is not None and expires > now:
            return False
        if len(self._entries) >= self.max_entries:
            raise StoreUnavailable("the DPoP replay cache is full")
        self._entries[key] = now + ttl
        self._entries.move_to_end(key)
        return True

    def _purge(self, now: float) -> None:
        # Entries are appended in time order with one TTL per deployment, so the oldest expire
        # first; stop at the first live one to keep this O(expired).
        entries = self._entries
        while entries:
            key, expires = next(iter(entries.items()))
            if expires > now:
                break
            del entries[key]
