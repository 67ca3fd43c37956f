"""The verified identity a request carries, after its access token passed every check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may do. Holds no PII: ``sub`` is an opaque identifier.

    ``claims`` keeps every verified claim for applications that registered extra ones; it is left
    out of ``repr`` so a principal can be logged.
    """

    sub: str
    scopes: frozenset[str]
    client_id: str
    jti: str
    issued_at: int
    expires_at: int
    kid: str = ""
    #: RFC 9449 ``cnf.jkt``: the DPoP key thumbprint this token is bound to, if any.
    jkt: str | None = None
    claims: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    def has_scopes(self, *required: str) -> bool:
        """True when every required scope was granted."""
        return self.scopes.issuperset(required)
