"""Registering clients: through TokenService.add_client and ``tokenveil clients add``."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.server._app import make_settings
from tokenveil.cli import app
from tokenveil.config import Settings
from tokenveil.errors import InvalidRequest
from tokenveil.service import TokenService
from tokenveil.store import MemoryStore


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[TokenService]:
    found = await TokenService.open(make_settings(tmp_path), store=MemoryStore())
    try:
        yield found
    finally:
        await found.close()


async def test_add_client_stores_the_secret_as_sha256(service: TokenService) -> None:
    """A new confidential client's secret is stored as sha256$<hex>, never argon2id or clear."""
    client, secret = await service.add_client(
        "reporting", grant_types=["client_credentials"], confidential=True
    )
    assert secret is not None
    stored = await service.store.get_client("reporting")
    assert stored is not None
    expected = "sha256$" + hashlib.sha256(secret.encode()).hexdigest()
    assert stored.secret_hash == client.secret_hash == expected


@pytest.mark.parametrize("client_id", ["usr_abcdefghijkl", "Usr_x", "has space", "x" * 65, ""])
async def test_add_client_refuses_bad_ids_with_a_generic_invalid_request(
    service: TokenService, client_id: str
) -> None:
    """The store's client id rule is checked first; the error does not repeat the id."""
    with pytest.raises(InvalidRequest) as caught:
        await service.add_client(client_id, confidential=True)
    if client_id:
        assert client_id not in caught.value.message
    assert await service.store.list_clients() == []


async def test_add_client_with_introspect_may_introspect(service: TokenService) -> None:
    """introspect=True registers the client for RFC 7662; the default does not."""
    gateway, _ = await service.add_client(
        "gateway", grant_types=["client_credentials"], confidential=True, introspect=True
    )
    other, _ = await service.add_client("other", confidential=True)
    assert gateway.may_introspect
    stored = await service.store.get_client("gateway")
    assert stored is not None
    assert stored.may_introspect
    assert not other.may_introspect


async def test_add_client_refuses_introspection_for_a_public_client(
    service: TokenService,
) -> None:
    """The introspection endpoint needs a secret, so a public introspecting client is a mistake."""
    with pytest.raises(InvalidRequest):
        await service.add_client("spa", introspect=True)


def test_service_has_no_argon2_only_client_check() -> None:
    """Client authentication lives at the edge (sha256$ and legacy argon2id); the service's old
    argon2id-only method, which could not check sha256$ hashes, is gone."""
    assert not hasattr(TokenService, "authenticate_client")


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("TOKENVEIL_DATABASE_URL", "TOKENVEIL_REDIS_URL", "TOKENVEIL_KEK"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def _stored(data_dir: Path, client_id: str) -> tuple[str | None, bool]:
    async def read() -> tuple[str | None, bool]:
        service = await TokenService.open(Settings.from_env({}, data_dir=data_dir))
        try:
            client = await service.store.get_client(client_id)
            assert client is not None
            return client.secret_hash, client.may_introspect
        finally:
            await service.close()

    return asyncio.run(read())


def test_cli_clients_add_introspect(runner: CliRunner, tmp_path: Path) -> None:
    """``clients add ID --confidential --introspect`` registers an introspecting client, prints
    its secret once and says the store keeps a SHA-256 hash (not argon2id)."""
    args = ["clients", "add", "gateway", "--confidential", "--introspect"]
    answer = runner.invoke(
        app, [*args, "--grant", "client_credentials", "--data-dir", str(tmp_path)]
    )
    assert answer.exit_code == 0, answer.output
    assert "argon2" not in answer.output
    secret = answer.output.split("not shown again): ")[1].split()[0]
    assert secret.startswith("tvc_")
    secret_hash, may_introspect = _stored(tmp_path, "gateway")
    assert may_introspect
    assert secret_hash == "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def test_cli_clients_add_without_introspect(runner: CliRunner, tmp_path: Path) -> None:
    """Without --introspect a client may not introspect."""
    answer = runner.invoke(app, ["clients", "add", "web", "--data-dir", str(tmp_path)])
    assert answer.exit_code == 0, answer.output
    assert _stored(tmp_path, "web") == (None, False)


def test_cli_introspect_needs_confidential(runner: CliRunner, tmp_path: Path) -> None:
    """--introspect without --confidential exits 2 with one clean line."""
    answer = runner.invoke(
        app, ["clients", "add", "web", "--introspect", "--data-dir", str(tmp_path)]
    )
    assert answer.exit_code == 2
    assert "Traceback" not in answer.output


def test_cli_bad_client_id_is_one_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    """A user-like client id exits 2 without a traceback and without repeating the id."""
    answer = runner.invoke(app, ["clients", "add", "usr_sneaky", "--data-dir", str(tmp_path)])
    assert answer.exit_code == 2
    assert "Traceback" not in answer.output
    assert "usr_sneaky" not in answer.output
