"""Base64url without padding (RFC 7515 §2), the only encoding JOSE uses."""

from __future__ import annotations

import base64
import binascii

__all__ = ["b64url_decode", "b64url_encode"]


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Strict decode: ValueError on padding, whitespace or characters outside the alphabet.

    On the verification hot path, so it goes straight to ``binascii`` in strict mode rather
    than through ``base64.urlsafe_b64decode`` and its layers of type checks.
    """
    raw = text.encode("ascii") if type(text) is str else text
    assert isinstance(raw, bytes)
    if len(raw) % 4 == 1 or b"+" in raw or b"/" in raw or b"=" in raw:
        raise ValueError("invalid base64url")
    try:
        data = binascii.a2b_base64(
            raw.translate(_TO_STANDARD) + _PAD[len(raw) % 4], strict_mode=True
        )
    except binascii.Error as exc:
        raise ValueError("invalid base64url") from exc
    # Canonical form only (RFC 4648 §3.5): the unused low bits of the last character must be
    # zero, so one token has exactly one spelling (caches and logs key on the string).
    tail = len(raw) % 4
    if tail and _ALPHABET.index(raw[-1]) & (0x0F if tail == 2 else 0x03):
        raise ValueError("non-canonical base64url")
    return data


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_PAD = (b"", b"", b"==", b"=")
