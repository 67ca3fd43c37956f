"""Password hashing with argon2id (argon2-cffi), off the event loop.

Unknown users are checked against a dummy hash so that both paths cost the same time and give
the same answer: no user enumeration by timing or by message (CWE-204).
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

__all__ = ["hash_password", "verify_password"]


@lru_cache(maxsize=1)
def _hasher() -> object:
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password_sync("tokenveil-dummy-password-for-timing")


def hash_password_sync(password: str) -> str:
    from argon2 import PasswordHasher

    hasher = _hasher()
    assert isinstance(hasher, PasswordHasher)
    return hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


def _verify_sync(stored: str | None, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    assert isinstance(hasher, PasswordHasher)
    try:
        return hasher.verify(stored if stored is not None else _dummy_hash(), password) and (
            stored is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True only for a stored hash that matches. ``None`` (unknown user) costs the same time."""
    return await asyncio.to_thread(_verify_sync, stored, password)
