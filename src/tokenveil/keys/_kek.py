"""Private keys at rest: AES-256-GCM under a key-encryption key (CWE-312, CWE-540).

The key-encryption key (KEK) comes from ``TOKENVEIL_KEK`` (base64url, 32 bytes) or from a file
created on first run with mode 0600. The ``kid`` is bound as associated data, so a ciphertext
moved onto another key's row does not decrypt.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenveil.errors import ConfigurationError, KeyRingError
from tokenveil.keys._b64 import b64url_decode, b64url_encode

__all__ = ["KeyEncryptor"]

_VERSION = b"\x01"
_NONCE_BYTES = 12


class KeyEncryptor:
    """Encrypts and decrypts private key material. Its repr never shows the KEK."""

    __slots__ = ("_aead",)

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise ConfigurationError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(kek)

    def __repr__(self) -> str:
        return "KeyEncryptor(kek=<hidden>)"

    def encrypt(self, plaintext: bytes, *, kid: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, kid.encode("utf-8"))

    def decrypt(self, blob: bytes, *, kid: str) -> bytes:
        if blob[:1] != _VERSION or len(blob) < 1 + _NONCE_BYTES + 16:
            raise KeyRingError("stored key is not in a known format")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[1 + _NONCE_BYTES :], kid.encode("utf-8"))
        except InvalidTag as exc:
            raise KeyRingError(
                "stored key cannot be decrypted with this key-encryption key"
            ) from exc

    @classmethod
    def from_settings(cls, kek: str | None, kek_path: Path) -> KeyEncryptor:
        """Use the KEK given in configuration, else read (or create, 0600) the KEK file."""
        if kek:
            try:
                return cls(b64url_decode(kek.strip()))
            except ValueError as exc:
                raise ConfigurationError("TOKENVEIL_KEK is not valid base64url") from exc
        return cls(_read_or_create(kek_path))


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        _create(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            f"{path} is readable by others (mode {mode:o}); run chmod 600 on it"
        )
    try:
        kek = b64url_decode(path.read_text("ascii").strip())
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold a valid key") from exc
    if len(kek) != 32:
        raise ConfigurationError(f"{path} does not hold a valid key")
    return kek


def _create(path: Path) -> None:
    """Write a fresh KEK atomically: a crash never leaves an empty or partial key file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(b64url_encode(secrets.token_bytes(32)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if another process created the key first; theirs wins, ours goes.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
