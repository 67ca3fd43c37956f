"""The upgrade of a legacy argon2id client secret hash never undoes an administrator's change.

The hash is replaced by compare-and-set on the hash alone (``replace_client_secret``), not by
writing back the client read before the ~100 ms argon2 check.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.server._app import make_settings, running
from tokenveil import _passwords
from tokenveil.store import Client, MemoryStore, Store, open_store
from tokenveil.web import _client_auth

CC = {"grant_type": "client_credentials"}
OLD_SECRET = "tvc_old-and-leaked-secret"
NEW_SECRET = "tvc_new-secret-after-rotation"


def _store(backend: str, tmp_path: Path) -> Store:
    if backend == "memory":
        return MemoryStore()
    return open_store(f"sqlite+aiosqlite:///{tmp_path / 'race.sqlite3'}")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_secret_rotated_during_a_legacy_hash_check_stays_rotated(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An administrator rotates the secret (and changes scopes, may_introspect) while the old
    secret's argon2 check runs: afterwards the old secret is refused, the new one works, and
    the administrator's other changes are kept."""
    async with running(make_settings(tmp_path), _store(backend, tmp_path)) as (http, service, _):
        legacy = Client(
            client_id="legacy",
            secret_hash=_passwords.hash_password_sync(OLD_SECRET),
            grant_types=("client_credentials",),
        )
        await service.store.add_client(legacy)
        rotated = dataclasses.replace(
            legacy,
            secret_hash=_passwords.hash_client_secret(NEW_SECRET),
            scopes=("orders",),
            may_introspect=True,
        )
        real_verify = _passwords.verify_client_secret

        async def admin_rotates_during_check(stored: str | None, presented: str) -> bool:
            matched = await real_verify(stored, presented)
            if stored == legacy.secret_hash:
                assert await service.store.update_client(rotated) is True
            return matched

        monkeypatch.setattr(_client_auth, "verify_client_secret", admin_rotates_during_check)
        # The request checked against the hash it read: it may still succeed, once.
        first = await http.post("/oauth/token", data=CC, auth=("legacy", OLD_SECRET))
        assert first.status_code == 200
        monkeypatch.undo()

        assert await service.store.get_client("legacy") == rotated
        old = await http.post("/oauth/token", data=CC, auth=("legacy", OLD_SECRET))
        assert old.status_code == 401
        new = await http.post("/oauth/token", data=CC, auth=("legacy", NEW_SECRET))
        assert new.status_code == 200


async def test_legacy_hash_is_still_upgraded_when_nothing_changed(tmp_path: Path) -> None:
    """Without a concurrent change, the first success still replaces argon2id by sha256$ and
    touches no other field."""
    async with running(make_settings(tmp_path), MemoryStore()) as (http, service, _):
        legacy = Client(
            client_id="legacy",
            secret_hash=_passwords.hash_password_sync(OLD_SECRET),
            scopes=("orders",),
            grant_types=("client_credentials",),
            may_introspect=True,
        )
        await service.store.add_client(legacy)
        ok = await http.post("/oauth/token", data=CC, auth=("legacy", OLD_SECRET))
        assert ok.status_code == 200
        upgraded = dataclasses.replace(
            legacy, secret_hash=_passwords.hash_client_secret(OLD_SECRET)
        )
        assert await service.store.get_client("legacy") == upgraded
