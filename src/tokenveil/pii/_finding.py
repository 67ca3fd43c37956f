"""What a detector reports: a kind and a location, never the value itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SECRET_KINDS", "Finding", "Kind"]


class Kind(StrEnum):
    """Every kind of personal data or secret the engine knows. Values are stable strings."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    US_SSN = "US_SSN"
    NATIONAL_ID = "NATIONAL_ID"
    IP_ADDRESS = "IP_ADDRESS"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    PERSON = "PERSON"
    ADDRESS = "ADDRESS"
    JWT = "JWT"
    BEARER_TOKEN = "BEARER_TOKEN"
    API_KEY = "API_KEY"
    PRIVATE_KEY = "PRIVATE_KEY"
    PASSWORD = "PASSWORD"


#: Kinds whose every character is a secret: partial masking never keeps a tail of them.
SECRET_KINDS: frozenset[str] = frozenset(
    {Kind.JWT, Kind.BEARER_TOKEN, Kind.API_KEY, Kind.PRIVATE_KEY, Kind.PASSWORD}
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data or secret, located but not copied.

    ``start``/``end`` are character offsets: into the scanned text for :func:`find`, and into the
    string value found at ``path`` for the structure-aware scanners (for a JSON number, into its
    decimal spelling). ``path`` is a JSONPath-like location (``$.user.emails[0]``) or ``None`` for
    free text. The value is never stored, so neither ``repr`` nor ``str`` can leak it.
    """

    kind: str
    start: int
    end: int
    confidence: float
    path: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:" if self.path is not None else ""
        return f"{self.kind} at {where}{self.start}-{self.end} ({self.confidence:.2f})"
