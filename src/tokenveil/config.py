"""Settings: one frozen object passed to constructors; the environment is read here only.

Every ``TOKENVEIL_*`` variable maps to a field (``TOKENVEIL_ACCESS_TTL`` → ``access_ttl``).
Weakening a default (a long access-token lifetime, plain HTTP off loopback) takes an explicit
setting and emits :class:`InsecureSettingWarning`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tokenveil.errors import ConfigurationError

__all__ = ["InsecureSettingWarning", "Settings"]

Algorithm = Literal["ES256", "RS256", "PS256", "EdDSA"]
ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "PS256", "EdDSA")

#: RFC 9068 access tokens should live minutes; past this an explicit opt-in is required.
MAX_ACCESS_TTL_WITHOUT_OPT_IN = 15 * 60


class InsecureSettingWarning(UserWarning):
    """A setting weakens a secure default (a warning category tests can turn into errors)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything tokenveil can be told. Times are seconds."""

    issuer: str = "http://127.0.0.1:8000"
    audience: str = "tokenveil-demo-api"
    data_dir: Path = Path(".tokenveil")
    database_url: str | None = None  # default: SQLite file in data_dir
    redis_url: str | None = None

    access_ttl: int = 10 * 60
    allow_long_access_ttl: bool = False
    refresh_idle_ttl: int = 24 * 3600
    refresh_absolute_ttl: int = 30 * 24 * 3600
    leeway: int = 30
    max_token_bytes: int = 8 * 1024

    signing_alg: Algorithm = "ES256"
    key_rotation_period: int = 30 * 24 * 3600
    #: Path of the key-encryption key file (0600, created on first run) unless ``kek`` is given.
    kek_file: Path | None = None
    #: Base64url key-encryption key from the environment; never logged.
    kek: str | None = field(default=None, repr=False)

    refresh_cookie: bool = False
    #: Plain HTTP accepted from loopback clients only (``tokenveil serve`` on 127.0.0.1).
    development: bool = False
    #: Proxies whose ``X-Forwarded-Proto`` / ``X-Forwarded-For`` are believed (CIDRs).
    trusted_proxies: tuple[str, ...] = ()
    state_poll_interval: float = 1.0
    extra_claims: tuple[str, ...] = ()

    #: Key prefix (and invalidation channel prefix) in Redis; instances of one deployment share it.
    redis_prefix: str = "tokenveil:"
    #: Feed every verified request to the token-use monitor (``tokenveil serve`` turns it on).
    monitoring: bool = False
    #: RFC 9449 §8/§9: demand a server nonce in every DPoP proof.
    dpop_nonces: bool = False

    def __post_init__(self) -> None:
        if self.signing_alg not in ALGORITHMS:
            raise ConfigurationError(f"signing_alg must be one of {', '.join(ALGORITHMS)}")
        if self.access_ttl <= 0 or self.refresh_idle_ttl <= 0 or self.refresh_absolute_ttl <= 0:
            raise ConfigurationError("token lifetimes must be positive")
        if self.access_ttl > MAX_ACCESS_TTL_WITHOUT_OPT_IN:
            if not self.allow_long_access_ttl:
                raise ConfigurationError(
                    "access_ttl over 15 minutes needs allow_long_access_ttl=True"
                )
            warnings.warn(
                f"access tokens will live {self.access_ttl // 60} minutes; RFC 9068 and the "
                "tokenveil defaults expect minutes, not hours",
                InsecureSettingWarning,
                stacklevel=3,
            )
        if self.state_poll_interval <= 0:
            raise ConfigurationError("state_poll_interval must be positive")
        if self.max_token_bytes < 512:
            raise ConfigurationError("max_token_bytes is too small to hold any access token")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, SQLite under ``data_dir`` by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tokenveil.sqlite3').resolve()}"

    @property
    def kek_path(self) -> Path:
        return self.kek_file or self.data_dir / "kek.key"

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (the object itself is frozen)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``TOKENVEIL_*`` variables; keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"TOKENVEIL_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigurationError("unknown setting") from exc


def _coerce(name: str, annotation: object, raw: str) -> object:
    text = str(annotation)
    try:
        if "Path" in text:
            return Path(raw)
        if text.startswith("bool"):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            return float(raw)
        if text.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigurationError(f"setting {name!r} has an invalid value") from exc
    return raw
