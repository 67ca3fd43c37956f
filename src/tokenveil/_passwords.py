"""Password hashing with argon2id (argon2-cffi), off the event loop; client secret hashing.

Unknown users are checked against a dummy hash so that both paths cost the same time and give
the same answer: no user enumeration by timing or by message (CWE-204).

Client secrets are not passwords: tokenveil generates them (``tvc_`` + 256 random bits), so no
dictionary or brute-force search can find one from its hash and a slow KDF buys nothing. They
are stored as ``sha256$<hex>`` and compared with :func:`hmac.compare_digest`: microseconds per
token request instead of argon2id's tens of milliseconds of CPU, which any caller could make the
server spend by naming a client (a denial-of-service lever). Hashes written by earlier versions
(``$argon2id$...``) still verify, and :func:`client_secret_needs_rehash` tells the caller to
replace them after a successful check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from functools import lru_cache

__all__ = [
    "client_secret_needs_rehash",
    "hash_client_secret",
    "hash_password",
    "verify_client_secret",
    "verify_password",
]

_CLIENT_SECRET_SCHEME = "sha256$"


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


def hash_client_secret(secret: str) -> str:
    """``sha256$<hex>`` of a generated, high-entropy client secret. Never use it for passwords."""
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    return _CLIENT_SECRET_SCHEME + digest


#: Compared against when there is no stored hash, so every failure does the same work.
_DUMMY_CLIENT_HASH = hash_client_secret(secrets.token_urlsafe(32))


async def verify_client_secret(stored: str | None, presented: str) -> bool:
    """True only when ``stored`` is a hash of ``presented``.

    ``None`` (unknown or public client) runs the same hash and constant-time comparison as a
    wrong secret does. A legacy argon2id hash is checked with argon2, off the event loop.
    """
    if stored is not None and stored.startswith("$argon2"):
        return await verify_password(stored, presented)
    known = stored is not None and stored.startswith(_CLIENT_SECRET_SCHEME)
    expected = stored if known and stored is not None else _DUMMY_CLIENT_HASH
    same = hmac.compare_digest(hash_client_secret(presented).encode(), expected.encode())
    return same and known


def client_secret_needs_rehash(stored: str | None) -> bool:
    """Whether a stored client secret hash predates ``sha256$`` and should be replaced."""
    return stored is not None and not stored.startswith(_CLIENT_SECRET_SCHEME)
