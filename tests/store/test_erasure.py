"""Right to erasure and client upkeep, on every backend: update, delete, and what is left after."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import StoreFactory
from tests.store.test_contract import DAY, NOW, family, record, user
from tokenveil.errors import StoreError
from tokenveil.store import Client, MemoryStore, Store, open_store
from tokenveil.store.scaled import ScaledStore


async def _family(store: Store, fid: str, sub: str, *, client_id: str = "web") -> None:
    await store.create_family(
        dataclasses.replace(family(fid, sub=sub), client_id=client_id), record(f"h-{fid}", fid)
    )


async def test_delete_user_erases_the_row_and_revokes_their_families(store: Store) -> None:
    """delete_user: no row, username or email left; the user's live families are revoked."""
    await store.add_user(user("u1", "alice"))
    await store.add_user(user("u2", "bob"))
    await _family(store, "f1", "u1")
    await _family(store, "f2", "u1")
    await store.revoke_family("f2", NOW, "reuse")
    await _family(store, "f3", "u2")

    assert await store.delete_user("u1", NOW + 5) is True

    assert await store.get_user("u1") is None
    assert await store.get_user_by_username("alice") is None
    assert [u.id for u in await store.list_users()] == ["u2"]
    reasons = {f.id: f.revoke_reason for f in await store.list_families()}
    # An earlier reason is evidence and stays; bob's family is untouched.
    assert reasons == {"f1": "user_deleted", "f2": "reuse", "f3": None}
    consumed = await store.consume("h-f1", NOW + 6)
    assert consumed.family is not None
    assert consumed.family.revoked_at == NOW + 5


async def test_delete_user_twice_is_false_and_frees_the_username(store: Store) -> None:
    """A second delete says False; the erased username may be registered again."""
    await store.add_user(user("u1", "alice"))
    assert await store.delete_user("u1", NOW) is True
    assert await store.delete_user("u1", NOW) is False
    assert await store.delete_user("nobody", NOW) is False
    await store.add_user(user("u9", "alice"))
    found = await store.get_user_by_username("alice")
    assert found is not None
    assert found.id == "u9"


async def test_update_user_replaces_every_field_but_the_id(store: Store) -> None:
    """update_user rewrites username, hash, email, scopes and disabled; unknown id is False."""
    await store.add_user(user("u1", "alice"))
    changed = dataclasses.replace(
        user("u1", "alice2"), email=None, scopes=("profile",), disabled=True, password_hash="$x"
    )
    assert await store.update_user(changed) is True
    assert await store.get_user("u1") == changed
    assert await store.get_user_by_username("alice") is None
    assert await store.update_user(user("nobody", "zed")) is False
    assert await store.get_user("nobody") is None


async def test_update_user_to_a_taken_username_fails_without_echoing_it(store: Store) -> None:
    """A username taken by another user is a StoreError that does not name it (invariant 6)."""
    await store.add_user(user("u1", "carol.secret"))
    await store.add_user(user("u2", "bob"))
    with pytest.raises(StoreError) as caught:
        await store.update_user(user("u2", "carol.secret"))
    assert "carol.secret" not in str(caught.value)
    bob = await store.get_user("u2")
    assert bob is not None
    assert bob.username == "bob"


async def test_delete_client_removes_it_and_revokes_its_families(store: Store) -> None:
    """delete_client: the client is gone and only its own live families are revoked."""
    await store.add_client(Client(client_id="web", created_at=NOW))
    await store.add_client(Client(client_id="cli", created_at=NOW))
    await _family(store, "f1", "u1", client_id="web")
    await _family(store, "f2", "u1", client_id="cli")
    assert await store.delete_client("web", NOW + 1) is True
    assert await store.delete_client("web", NOW + 1) is False
    assert await store.get_client("web") is None
    assert [c.client_id for c in await store.list_clients()] == ["cli"]
    reasons = {f.id: f.revoke_reason for f in await store.list_families()}
    assert reasons == {"f1": "client_deleted", "f2": None}


async def test_update_client_round_trips_every_field(store: Store) -> None:
    """update_client stores the new hash and the introspection permission; unknown is False."""
    await store.add_client(Client(client_id="gw", secret_hash="$argon2id$old", created_at=NOW))
    changed = Client(
        client_id="gw",
        name="Gateway",
        secret_hash="sha256$" + "ab" * 32,
        scopes=("orders",),
        grant_types=("client_credentials",),
        dpop_bound=True,
        created_at=NOW,
        may_introspect=True,
    )
    assert await store.update_client(changed) is True
    assert await store.get_client("gw") == changed
    assert await store.update_client(Client(client_id="nobody")) is False
    assert await store.get_client("nobody") is None


OLD = "$argon2id$v=19$m=65536,t=3,p=4$old"
NEW = "sha256$" + "ab" * 32
ROTATED = "sha256$" + "cd" * 32


async def test_replace_client_secret_swaps_only_an_unchanged_hash(store: Store) -> None:
    """replace_client_secret is a compare-and-set of the hash alone: it succeeds while the hash
    is still the old one, leaves every other field alone, and is False once it has changed or
    for an unknown client."""
    legacy = Client(client_id="gw", secret_hash=OLD, scopes=("orders",), created_at=NOW)
    await store.add_client(legacy)
    assert await store.replace_client_secret("gw", OLD, NEW) is True
    assert await store.get_client("gw") == dataclasses.replace(legacy, secret_hash=NEW)
    assert await store.replace_client_secret("gw", OLD, ROTATED) is False  # no longer OLD
    assert (await store.get_client("gw")) == dataclasses.replace(legacy, secret_hash=NEW)
    assert await store.replace_client_secret("nobody", OLD, NEW) is False
    assert await store.get_client("nobody") is None


async def test_hash_upgrade_loses_to_an_admin_update_made_in_between(
    store_factory: StoreFactory,
) -> None:
    """The race of the review: an upgrade computed from the client read before an administrator
    rotated the secret (from another process, on SQL) does not write the old secret back, and
    the administrator's other changes (scopes, may_introspect) stay."""
    upgrader = store_factory()
    # Memory stores made by the factory never share data: there, the admin uses the same one.
    admin = upgrader if isinstance(upgrader, MemoryStore) else store_factory()
    await upgrader.open()
    await admin.open()
    try:
        await upgrader.add_client(Client(client_id="gw", secret_hash=OLD, created_at=NOW))
        read = await upgrader.get_client("gw")
        assert read is not None
        assert read.secret_hash == OLD
        rotated = dataclasses.replace(
            read, secret_hash=ROTATED, scopes=("orders",), may_introspect=True
        )
        assert await admin.update_client(rotated) is True
        assert await upgrader.replace_client_secret("gw", OLD, NEW) is False
        assert await admin.get_client("gw") == rotated
        assert await upgrader.get_client("gw") == rotated
    finally:
        await upgrader.close()
        await admin.close()


@pytest.mark.parametrize(
    "client_id",
    ["usr_abc", "USR_abc", "", "a b", "a/b", "a:b", "x" * 65, "caf\u00e9", "line\nbreak"],
)
async def test_add_client_refuses_malformed_or_user_like_ids(store: Store, client_id: str) -> None:
    """Client ids are 1-64 unreserved characters, never usr_-prefixed (a user's sub)."""
    with pytest.raises(StoreError) as caught:
        await store.add_client(Client(client_id=client_id))
    assert await store.list_clients() == []
    if client_id:
        assert client_id not in str(caught.value)


async def test_expired_families_are_left_alone_by_erasure(store: Store) -> None:
    """Erasure revokes live families only; an expired one is the purge's to delete."""
    await store.add_user(user("u1", "alice"))
    await store.create_family(
        family("old", sub="u1", created_at=NOW - 40 * DAY, expires_at=NOW - DAY),
        record("h-old", "old"),
    )
    await store.delete_user("u1", NOW)
    old = await store.get_family("old")
    assert old is not None
    assert old.revoked_at is None
    assert await store.purge_expired(NOW) == 2


async def test_erased_user_leaves_no_bytes_in_the_sqlite_file(tmp_path: Path) -> None:
    """After delete_user, neither the SQLite file nor its WAL holds the username or email."""
    path = tmp_path / "store.sqlite3"
    canary = "erasure-canary-7f3a"
    store = open_store(f"sqlite+aiosqlite:///{path}")
    await store.open()
    try:
        for n in range(20):  # neighbours, so the page is rewritten, not dropped whole
            await store.add_user(user(f"n{n}", f"neighbour{n}"))
        await store.add_user(
            dataclasses.replace(user("u1", canary), email=f"{canary}@example.test")
        )
        assert await store.delete_user("u1", NOW) is True
        assert canary.encode() not in _files_bytes(tmp_path)  # the file and its -wal, -shm
    finally:
        await store.close()
    assert canary.encode() not in _files_bytes(tmp_path)


def _files_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


async def test_scaled_store_forwards_erasure_to_sql() -> None:
    """With Redis in front, users and clients are still erased in the SQL store."""
    sql = MemoryStore()
    scaled = ScaledStore(sql, None, None, url="redis://unused", prefix="t:")  # type: ignore[arg-type]
    await sql.add_user(user("u1", "alice"))
    await sql.add_client(Client(client_id="web"))
    await _family(sql, "f1", "u1")
    assert await scaled.update_user(dataclasses.replace(user("u1", "alice"), email=None))
    assert await scaled.update_client(Client(client_id="web", may_introspect=True))
    assert await scaled.replace_client_secret("web", "x", NEW) is False
    assert await scaled.update_client(Client(client_id="web", secret_hash=OLD))
    assert await scaled.replace_client_secret("web", OLD, NEW) is True
    assert (await sql.get_client("web")) == Client(client_id="web", secret_hash=NEW)
    assert await scaled.delete_user("u1", NOW) is True
    assert await scaled.delete_client("web", NOW) is True
    assert await sql.list_users() == []
    assert await sql.list_clients() == []
