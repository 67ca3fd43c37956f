"""Plain data the scanner works on: recorded exchanges in, findings out.

Nothing here does I/O. Exchanges keep the raw bytes the checks need (they live in memory for one
scan only), but their ``repr`` never shows a header value or a body: a stray ``print(exchange)``
or a log line must not leak a token or PII (CWE-532).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "Endpoint",
    "Exchange",
    "Finding",
    "RecordedRequest",
    "RecordedResponse",
    "ScanResult",
    "Severity",
    "Target",
    "TokenSet",
    "is_loopback_url",
]


class Severity(enum.Enum):
    """Finding severity, ordered: ``Severity.HIGH > Severity.LOW``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank


_RANKS = {s: i for i, s in enumerate(Severity)}


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback address or ``localhost``."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found. ``evidence`` is redacted: it names fields and kinds, never values."""

    id: str
    title: str
    severity: Severity
    cwe: int
    owasp: str
    endpoint: str
    evidence: tuple[str, ...]
    remediation: str

    @property
    def cwe_id(self) -> str:
        return f"CWE-{self.cwe}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "cwe": self.cwe_id,
            "owasp": self.owasp,
            "endpoint": self.endpoint,
            "evidence": list(self.evidence),
            "remediation": self.remediation,
        }


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {urlsplit(self.url).path!r}, headers=<masked>)"


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def is_json(self) -> bool:
        return "json" in (self.header("content-type") or "").lower()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"RecordedResponse({self.status}, {len(self.body)} bytes, headers=<masked>)"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back. ``probe`` says why the scanner sent it.

    Probe names are ``kind`` or ``kind:variant``: ``baseline:none``, ``baseline:access``,
    ``forge:alg-none:nOnE``, ``login``, ``discover``... Checks select exchanges by probe and by
    ``endpoint`` (``"GET /me"``, the path template when one is known).
    """

    probe: str
    endpoint: str
    request: RecordedRequest
    response: RecordedResponse | None
    elapsed: float = 0.0
    error: str | None = None
    user: str = "user1"

    @property
    def kind(self) -> str:
        return self.probe.split(":", 1)[0]

    @property
    def variant(self) -> str:
        parts = self.probe.split(":", 1)
        return parts[1] if len(parts) > 1 else ""

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An operation to probe. ``path`` is concrete (parameters filled), ``template`` as declared."""

    method: str
    path: str
    template: str
    #: JSON schema of the 2xx response when an OpenAPI document declares one (refs resolved).
    response_schema: dict[str, Any] | None = None
    params: tuple[str, ...] = ()
    source: str = "common"  # "openapi" | "common" | "metadata"

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


@dataclass(slots=True)
class TokenSet:
    """Tokens obtained for one user. ``repr`` shows only hints."""

    access: str | None = None
    refresh: str | None = None
    id_token: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # e.g. reset tokens, cookie values
    cookies: dict[str, str] = field(default_factory=dict)

    def named(self) -> list[tuple[str, str]]:
        """Every token with its role: ``access``, ``refresh``, ``id``, or the field/cookie name."""
        out: list[tuple[str, str]] = []
        if self.access:
            out.append(("access", self.access))
        if self.refresh:
            out.append(("refresh", self.refresh))
        if self.id_token:
            out.append(("id", self.id_token))
        out.extend(self.extra.items())
        return out

    def __repr__(self) -> str:
        roles = [role for role, _ in self.named()]
        return f"TokenSet(roles={roles!r})"


@dataclass(slots=True)
class Target:
    """What the scanner knows about the API under test; filled as the scan goes."""

    base_url: str
    endpoints: list[Endpoint] = field(default_factory=list)
    openapi: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # RFC 8414 / OIDC discovery
    jwks: dict[str, Any] | None = None
    login_url: str | None = None
    token_endpoint: str | None = None
    #: Set when the API authenticates by cookie (the login answered only Set-Cookie): tokens are
    #: then presented as this cookie instead of an Authorization header.
    auth_cookie: str | None = None
    tokens: dict[str, TokenSet] = field(default_factory=dict)  # "user1", "user2"
    #: Paths fetched from the scanner's own key server (jku/x5u probes on loopback targets).
    key_url_fetches: list[str] = field(default_factory=list)
    #: HMAC secret recovered from the wordlist, if any (never rendered, only its length).
    guessed_secret: bytes | None = field(default=None, repr=False)

    @property
    def loopback(self) -> bool:
        return is_loopback_url(self.base_url)

    @property
    def https(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"


@dataclass(slots=True)
class ScanResult:
    """Everything a report renders."""

    target: str
    findings: list[Finding]
    requests: int
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    started_at: str = ""
    duration: float = 0.0

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def at_or_over(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]
