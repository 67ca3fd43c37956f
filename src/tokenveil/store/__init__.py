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

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from tokenveil.store.sql import SqlStore

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
    "SqlStore",
    "Store",
    "StoredKey",
    "User",
    "UserStore",
    "open_store",
]


def __getattr__(name: str) -> object:
    # SQLAlchemy is an extra: a resource server that only verifies tokens never needs it.
    if name == "SqlStore":
        return _sql_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sql_store_class() -> type[SqlStore]:
    try:
        from tokenveil.store.sql import SqlStore
    except ImportError as exc:
        raise ConfigurationError(
            "the SQL store needs SQLAlchemy: pip install 'tokenveil[server]'"
        ) from exc
    return SqlStore


def open_store(url: str) -> Store:
    """The store for ``url``, not yet opened. The URL may hold a password; it is never echoed."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme.startswith(("sqlite", "postgres")):
        return _sql_store_class()(url)
    # Name the scheme only: the rest of the URL may carry credentials.
    raise ConfigurationError(f"unsupported store URL scheme {scheme!r}")
