"""Server nonces for DPoP (RFC 9449 §8 and §9), stateless: a time step signed with HMAC.

A nonce is ``base64url(step || HMAC-SHA256(key, step)[:16])`` where ``step`` is the current
period number. A nonce of the current or the previous period is accepted, so each one lives
between one and two periods. Instances that share the key accept each other's nonces, with no
shared state; a key of the process's own is drawn when none is given (one instance only).
"""

from __future__ import annotations

import hmac
import secrets
from hashlib import sha256

from tokenveil.keys._b64 import b64url_decode, b64url_encode

__all__ = ["NonceManager"]

_MAC_BYTES = 16


class NonceManager:
    """Issues and checks time-based DPoP nonces. ``now`` is always given by the caller."""

    __slots__ = ("_key", "period")

    def __init__(self, key: bytes | None = None, *, period: float = 300.0) -> None:
        if key is not None and len(key) < 32:
            raise ValueError("the DPoP nonce key must be at least 32 bytes")
        if period <= 0:
            raise ValueError("period must be positive")
        self._key = key if key is not None else secrets.token_bytes(32)
        self.period = period

    def __repr__(self) -> str:
        return f"NonceManager(period={self.period!r}, key=***)"

    def issue(self, now: float) -> str:
        """The nonce to send in ``DPoP-Nonce`` at ``now``."""
        return self._make(int(now // self.period))

    def is_valid(self, nonce: str, now: float) -> bool:
        """True for a nonce this manager issued in the current or the previous period."""
        try:
            raw = b64url_decode(nonce)
        except (ValueError, UnicodeEncodeError):
            return False
        if len(raw) != 8 + _MAC_BYTES:
            return False
        step = int.from_bytes(raw[:8], "big")
        current = int(now // self.period)
        if step not in (current, current - 1):
            return False
        return hmac.compare_digest(self._make(step), nonce)

    def _make(self, step: int) -> str:
        counter = step.to_bytes(8, "big")
        mac = hmac.new(self._key, b"tokenveil-dpop-nonce" + counter, sha256).digest()
        return b64url_encode(counter + mac[:_MAC_BYTES])
