"""The shared backend fixtures: a missing service skips locally and fails in CI."""

from __future__ import annotations

import pytest

from tests.conftest import _require_service, free_port


def test_missing_service_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI=true a service that does not answer skips, naming host and port."""
    monkeypatch.delenv("CI", raising=False)
    port = free_port()
    with pytest.raises(pytest.skip.Exception, match=f"127.0.0.1:{port}"):
        _require_service("PostgreSQL", "127.0.0.1", port)


def test_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true the same situation is a failure: backend tests must run in CI."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        _require_service("Redis", "127.0.0.1", free_port())


@pytest.mark.postgres
def test_postgres_url_points_at_a_session_database(postgres_url: str) -> None:
    """The session database is a fresh, randomly named one, never the shared ``test``."""
    name = postgres_url.rsplit("/", 1)[1]
    assert name.startswith("tokenveil_test_")
    assert len(name) > len("tokenveil_test_") + 8
