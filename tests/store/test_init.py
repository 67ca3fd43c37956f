"""The public face of ``tokenveil.store``: its exported names and the ``open_store`` factory."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import tokenveil.store
from tests.store.test_contract import user
from tokenveil.errors import ConfigurationError, StoreUnavailable
from tokenveil.store import MemoryStore, SqlStore, Store, open_store


def test_exported_names_are_pinned() -> None:
    """``__all__`` lists exactly the public store API, and every name resolves."""
    assert sorted(tokenveil.store.__all__) == [
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
    for name in tokenveil.store.__all__:
        assert getattr(tokenveil.store, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy SqlStore import does not swallow typos."""
    with pytest.raises(AttributeError):
        _ = tokenveil.store.NoSuchStore


def test_memory_url_gives_a_fresh_memory_store() -> None:
    """``memory://`` gives a new, unshared MemoryStore each time."""
    first, second = open_store("memory://"), open_store("memory://")
    assert isinstance(first, MemoryStore)
    assert first is not second


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/a.sqlite3",
        "sqlite+aiosqlite:///{tmp}/a.sqlite3",
        "postgresql://u@127.0.0.1/db",
        "postgres://u@127.0.0.1/db",
        "postgresql+asyncpg://u@127.0.0.1/db",
    ],
)
def test_sql_urls_give_a_sql_store(url: str, tmp_path: Path) -> None:
    """SQLite and PostgreSQL URLs, with or without the async driver named, give a SqlStore."""
    assert isinstance(open_store(url.format(tmp=tmp_path)), SqlStore)


def test_unknown_scheme_is_refused_without_echoing_the_url() -> None:
    """An unsupported scheme is a ConfigurationError naming the scheme, not the credentials."""
    with pytest.raises(ConfigurationError, match="'mongodb'") as caught:
        open_store("mongodb://admin:s3cret-pass@db/x")
    assert "s3cret-pass" not in str(caught.value)


async def test_memory_store_can_play_unavailable() -> None:
    """set_unavailable makes every call raise StoreUnavailable until it is switched back."""
    store = MemoryStore()
    await store.revoke_jti("j", 10.0)
    store.set_unavailable()
    with pytest.raises(StoreUnavailable):
        await store.revoked_jtis(0.0)
    with pytest.raises(StoreUnavailable):
        await store.consume("h", 0.0)
    store.set_unavailable(False)
    assert await store.revoked_jtis(0.0) == {"j"}


async def test_memory_store_repr_shows_counts_only() -> None:
    """The memory store's repr never shows usernames or hashes."""
    store = MemoryStore()
    await store.add_user(user(username="dora.private"))
    assert "dora.private" not in repr(store)
    assert "users=1" in repr(store)


#: Typed as the Protocol on purpose: mypy checks each class against ``Store`` structurally.
BACKEND_CLASSES: tuple[type[Store], ...] = (MemoryStore, SqlStore)


@pytest.mark.parametrize("backend", BACKEND_CLASSES)
def test_backends_implement_every_store_method_as_a_coroutine(backend: type[Store]) -> None:
    """Each backend has every public method of the Store protocol, each one async."""
    names = [n for n in dir(Store) if not n.startswith("_")]
    assert len(names) > 25
    for name in names:
        assert inspect.iscoroutinefunction(getattr(backend, name)), name
