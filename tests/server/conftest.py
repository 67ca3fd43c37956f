"""Fixtures shared by the token-server tests."""

from __future__ import annotations

import pytest

from tokenveil import _passwords

__all__ = ["argon2_checks"]


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every argon2 verification (passwords, legacy client hashes, dummy hashes)."""
    calls: list[int] = []
    real = _passwords._verify_sync

    def counting(stored: str | None, password: str) -> bool:
        calls.append(1)
        return real(stored, password)

    monkeypatch.setattr(_passwords, "_verify_sync", counting)
    return calls
