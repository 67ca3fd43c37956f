"""The scanner's only door to the PII engine (:mod:`tokenveil.pii`): no detector lives here.

Checks get ``(path, kind)`` pairs: where something was found and what it is, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenveil import pii

__all__ = ["Hit", "in_body", "in_claims", "in_text", "is_secret_kind"]

_SECRET_KINDS = frozenset({"JWT", "BEARER_TOKEN", "API_KEY", "PRIVATE_KEY", "PASSWORD"})


@dataclass(frozen=True, slots=True)
class Hit:
    """What the PII engine found: ``path`` (``$.user.email``; None in free text) and ``kind``."""

    path: str | None
    kind: str

    @property
    def secret(self) -> bool:
        return is_secret_kind(self.kind)

    def describe(self) -> str:
        return f"{self.kind} at {self.path}" if self.path else self.kind


def is_secret_kind(kind: str) -> bool:
    """Tokens, keys and passwords, as opposed to personal data."""
    return str(kind) in _SECRET_KINDS


def _hits(findings: Any) -> list[Hit]:
    seen: dict[tuple[str | None, str], Hit] = {}
    for f in findings:
        hit = Hit(getattr(f, "path", None), str(f.kind))
        seen.setdefault((hit.path, hit.kind), hit)
    return list(seen.values())


def in_claims(claims: Mapping[str, Any]) -> list[Hit]:
    """PII in a token's claims (nested claims too); path is the claim path."""
    return _hits(pii.lint_claims(claims))


def in_text(text: str) -> list[Hit]:
    return _hits(pii.find(text))


def in_body(body: bytes) -> list[Hit]:
    """PII in a response body: structure-aware for JSON, free text otherwise."""
    if not body:
        return []
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return in_text(body.decode("utf-8", errors="replace"))
    return _hits(pii.find_in_json(body))
