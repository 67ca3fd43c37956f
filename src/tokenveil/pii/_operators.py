"""Masking operators: small callables that turn one found value into its replacement.

An operator is ``operator(value, kind) -> str | None``; ``None`` means "drop": the span is removed
from text, and the whole key or list item is removed from a JSON document.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from tokenveil.errors import ConfigurationError
from tokenveil.pii._finding import SECRET_KINDS, Kind

__all__ = ["Drop", "Operator", "Partial", "Pseudonymize", "Redact", "operator_named"]


@runtime_checkable
class Operator(Protocol):
    """Turns a found value into its replacement, or ``None`` to drop it."""

    def __call__(self, value: str, kind: str) -> str | None: ...


class Redact:
    """``[EMAIL]``: the kind in brackets, nothing of the value."""

    __slots__ = ("template",)

    def __init__(self, template: str = "[{kind}]") -> None:
        self.template = template

    def __call__(self, value: str, kind: str) -> str:
        return self.template.format(kind=kind)

    def __repr__(self) -> str:
        return f"Redact(template={self.template!r})"


class Partial:
    """Keeps the last ``keep`` letters/digits and the separators (``**** **** **** 1111``).

    Secrets (tokens, keys, passwords) are redacted whole: the tail of a password is a hint.
    """

    __slots__ = ("char", "keep")

    def __init__(self, keep: int = 4, char: str = "*") -> None:
        if keep < 0 or len(char) != 1:
            raise ConfigurationError("Partial needs keep >= 0 and a one-character mask")
        self.keep = keep
        self.char = char

    def __call__(self, value: str, kind: str) -> str:
        if kind in SECRET_KINDS:
            return f"[{kind}]"
        alnum_total = sum(1 for ch in value if ch.isalnum())
        # Never keep the whole value: a 4-character value keeps nothing.
        to_hide = max(alnum_total - self.keep, min(alnum_total, (alnum_total + 1) // 2))
        out: list[str] = []
        for ch in value:
            if ch.isalnum() and to_hide > 0:
                out.append(self.char)
                to_hide -= 1
            else:
                out.append(ch)
        return "".join(out)

    def __repr__(self) -> str:
        return f"Partial(keep={self.keep})"


_CANONICAL_ALNUM = frozenset(
    {Kind.PHONE, Kind.CREDIT_CARD, Kind.IBAN, Kind.US_SSN, Kind.NATIONAL_ID}
)


def _canonical(value: str, kind: str) -> str:
    """One spelling per value, so ``4111 1111…`` and ``4111-1111…`` get one pseudonym."""
    if kind == Kind.EMAIL:
        return value.strip().lower()
    if kind in _CANONICAL_ALNUM:
        return "".join(ch for ch in value if ch.isalnum()).upper()
    return " ".join(value.split())


class Pseudonymize:
    """``[EMAIL:k2:3f9a0c12d4e5b6a7]``: a keyed HMAC-SHA256 of the canonical value.

    Stable across calls and processes for the same key, so pseudonyms still join records; not
    reversible without the key, and not guessable by hashing candidate emails (unlike a bare
    hash). ``keys`` maps key ids to secrets (at least 16 bytes); ``active`` names the key used
    to write. Keep retired keys in ``keys`` during a rotation so :meth:`pseudonyms` can still
    match values pseudonymised under them.
    """

    __slots__ = ("_keys", "active", "length")

    def __init__(
        self, keys: Mapping[str, bytes], active: str | None = None, *, length: int = 16
    ) -> None:
        if not keys:
            raise ConfigurationError("Pseudonymize needs at least one key")
        for kid, secret in keys.items():
            if not kid or ":" in kid or "]" in kid:
                raise ConfigurationError("key ids must be non-empty and contain no ':' or ']'")
            if len(secret) < 16:
                raise ConfigurationError(f"pseudonymisation key {kid!r} is shorter than 16 bytes")
        self._keys = dict(keys)
        self.active = active if active is not None else next(reversed(self._keys))
        if self.active not in self._keys:
            raise ConfigurationError(f"active key {self.active!r} is not among the keys")
        if not 8 <= length <= 64:
            raise ConfigurationError("pseudonym length must be between 8 and 64 hex digits")
        self.length = length

    def _digest(self, kid: str, value: str, kind: str) -> str:
        message = f"{kind}\x1f{_canonical(value, kind)}".encode()
        return hmac.new(self._keys[kid], message, hashlib.sha256).hexdigest()[: self.length]

    def __call__(self, value: str, kind: str) -> str:
        return f"[{kind}:{self.active}:{self._digest(self.active, value, kind)}]"

    def pseudonyms(self, value: str, kind: str) -> dict[str, str]:
        """The pseudonym of ``value`` under every key: match records across a rotation."""
        return {kid: f"[{kind}:{kid}:{self._digest(kid, value, kind)}]" for kid in self._keys}

    def __repr__(self) -> str:
        return f"Pseudonymize(active={self.active!r}, key_ids={tuple(self._keys)!r})"


class Drop:
    """Removes the value: the span in text, the key or list item in JSON."""

    __slots__ = ()

    def __call__(self, value: str, kind: str) -> None:
        return None

    def __repr__(self) -> str:
        return "Drop()"


def operator_named(operator: str | Operator) -> Operator:
    """An operator object from its name (``redact``, ``partial``, ``drop``) or itself."""
    if not isinstance(operator, str):
        return operator
    if operator == "redact":
        return Redact()
    if operator == "partial":
        return Partial()
    if operator == "drop":
        return Drop()
    if operator == "pseudonymize":
        raise ConfigurationError("pseudonymize needs keys: pass Pseudonymize(keys={...})")
    raise ConfigurationError(f"unknown masking operator {operator!r}")
