"""What the user asked the scanner for."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ScanOptions"]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What the user asked for. Secrets are kept out of ``repr``."""

    url: str
    openapi: str | None = None
    token: str | None = field(default=None, repr=False)
    expired_token: str | None = field(default=None, repr=False)
    login_url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    second_username: str | None = None
    second_password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    max_requests: int = 300
    rate: float = 10.0
    active: bool = False
    timeout: float = 10.0
