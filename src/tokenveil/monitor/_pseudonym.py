"""Keyed pseudonyms for personal data the monitor needs to compare but must not keep.

IP addresses, user agents and subject identifiers are personal data (GDPR Art. 4(1), CJEU
C-582/14 Breyer for dynamic IPs). The monitor only needs to tell them apart, so it keeps
``HMAC-SHA256(key, purpose || value)`` truncated to 128 bits: equal inputs give equal
pseudonyms, and without the key a pseudonym cannot be reversed by enumerating the IPv4 space,
as a plain hash could (GDPR Art. 4(5) pseudonymisation: the key is the "additional information
kept separately"). Rotating the key unlinks all earlier records.
"""

from __future__ import annotations

import hmac
import secrets
from hashlib import sha256

from tokenveil.keys._b64 import b64url_encode

__all__ = ["Pseudonymizer"]


class Pseudonymizer:
    """``pseudonym(purpose, value)`` → 22 url-safe characters. The key never shows in ``repr``."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) < 32:
            raise ValueError("the pseudonymization key must be at least 32 bytes")
        self._key = key if key is not None else secrets.token_bytes(32)

    def __repr__(self) -> str:
        return "Pseudonymizer(key=***)"

    def pseudonym(self, purpose: str, value: str) -> str:
        # The purpose separates domains: an IP and a subject with equal text never collide.
        mac = hmac.new(self._key, f"{purpose}\x00{value}".encode(), sha256).digest()
        return b64url_encode(mac[:16])

    def subject(self, sub: str) -> str:
        return self.pseudonym("sub", sub)

    def ip(self, ip: str) -> str:
        return self.pseudonym("ip", ip)

    def user_agent(self, user_agent: str) -> str:
        return self.pseudonym("ua", user_agent)
