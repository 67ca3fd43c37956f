"""The verified identity a request carries, after its access token passed every check."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

__all__ = ["Principal"]

_NO_CLAIMS: Mapping[str, object] = MappingProxyType({})


class Principal(NamedTuple):
    """Who is calling, and what they may do. Holds no PII: ``sub`` is an opaque identifier.

    Immutable (a tuple): the verifier caches one per token and every request with that token
    shares it, so no handler may change what the next one sees. ``claims`` keeps every verified
    claim (read-only) for applications that registered extra ones; it is left out of ``repr``
    so a principal can be logged. A named tuple rather than a frozen dataclass because one is
    built per verification on the hot path, at a third of the cost (bench/verify.py).
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
    claims: Mapping[str, object] = _NO_CLAIMS

    def has_scopes(self, *required: str) -> bool:
        """True when every required scope was granted."""
        return self.scopes.issuperset(required)

    def __repr__(self) -> str:
        return (
            f"Principal(sub={self.sub!r}, scopes={sorted(self.scopes)!r}, "
            f"client_id={self.client_id!r}, jti={self.jti!r}, kid={self.kid!r})"
        )
