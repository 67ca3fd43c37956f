"""Settings: one frozen object passed to constructors; the environment is read here only.

Every ``TOKENVEIL_*`` variable maps to a field (``TOKENVEIL_ACCESS_TTL`` → ``access_ttl``).
Weakening a default (a long access-token lifetime, plain HTTP off loopback) takes an explicit
setting and emits :class:`InsecureSettingWarning`.

Every duration is checked at construction: finite and positive, the verification ``leeway``
within 0-60 s and ``state_poll_interval`` within (0, 60] s; the token endpoint rate limits
(``token_rate_per_address``, ``token_rate_per_client`` and the failed-authentication budgets
``token_rate_failures_per_address``, ``token_rate_failures_per_client``,
``token_rate_failures_per_username``) are positive whole numbers. A refused
setting is named in the error, never its value. ``repr``/``str`` and
:meth:`Settings.as_log_dict` mask the passwords a ``database_url`` or ``redis_url`` may carry,
and never show ``kek`` (CWE-532).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from tokenveil.errors import ConfigurationError

__all__ = ["InsecureSettingWarning", "Settings"]

Algorithm = Literal["ES256", "RS256", "PS256", "EdDSA"]
ALGORITHMS: tuple[str, ...] = ("ES256", "RS256", "PS256", "EdDSA")

#: RFC 9068 access tokens should live minutes; past this an explicit opt-in is required.
MAX_ACCESS_TTL_WITHOUT_OPT_IN = 15 * 60
#: RFC 7519 §4.1.4 allows "a few minutes" of clock skew; more than a minute only hides a bad clock.
MAX_LEEWAY = 60
#: Past this, a revocation or a kill switch takes too long to reach every instance.
MAX_STATE_POLL_INTERVAL = 60.0
#: Durations that must be finite and strictly positive (seconds).
_POSITIVE_DURATIONS = (
    "access_ttl",
    "refresh_idle_ttl",
    "refresh_absolute_ttl",
    "key_rotation_period",
    "state_poll_interval",
    "purge_expired_interval",
    "token_rate_window",
)
#: Request counts that must be whole and positive (a limit of 0 would refuse every request).
_POSITIVE_COUNTS = (
    "token_rate_per_address",
    "token_rate_per_client",
    "token_rate_failures_per_address",
    "token_rate_failures_per_client",
    "token_rate_failures_per_username",
)
#: Settings whose values are secrets: never in an error, a repr or a log line.
_SECRET_URLS = ("database_url", "redis_url")
_MASK = "***"
_SECRET_QUERY_KEYS = ("pass", "secret", "token", "key", "auth", "credential")


class InsecureSettingWarning(UserWarning):
    """A setting weakens a secure default (a warning category tests can turn into errors)."""


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Everything tokenveil can be told. Times are seconds.

    ``repr`` and ``str`` mask URL passwords and omit ``kek``; use :meth:`as_log_dict` to log
    the settings.
    """

    issuer: str = "http://127.0.0.1:8000"
    audience: str = "tokenveil-demo-api"
    data_dir: Path = Path(".tokenveil")
    #: Default: a SQLite file in ``data_dir``. May hold a password: masked in repr and logs.
    database_url: str | None = field(default=None, repr=False)
    #: May hold a password: masked in repr and logs.
    redis_url: str | None = field(default=None, repr=False)

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
    #: How often the background task deletes expired refresh tokens, families and revoked jtis.
    purge_expired_interval: float = 3600.0
    extra_claims: tuple[str, ...] = ()

    #: Key prefix (and invalidation channel prefix) in Redis; instances of one deployment share it.
    redis_prefix: str = "tokenveil:"
    #: Feed every verified request to the token-use monitor (``tokenveil serve`` turns it on).
    monitoring: bool = False
    #: RFC 9449 §8/§9: demand a server nonce in every DPoP proof.
    dpop_nonces: bool = False

    #: Requests to the token, revocation and introspection endpoints allowed per client address
    #: (an IPv6 address counts by its /64) in each window of ``token_rate_window`` seconds.
    token_rate_per_address: int = 200
    #: Token requests allowed per authenticated client in each window.
    token_rate_per_client: int = 1000
    token_rate_window: float = 10.0
    #: Failed client authentications and failed password grants allowed per client address in
    #: each window; an argon2 check (password, legacy client secret hash) is refused with 429
    #: before it runs once the address has spent them. Successes spend nothing.
    token_rate_failures_per_address: int = 20
    #: Failed authentications per client id still holding a legacy argon2id secret hash, in each
    #: window; past it, only addresses without a failure of their own in the window are checked.
    token_rate_failures_per_client: int = 20
    #: Failed password grants per submitted username (existing or not; counted under a keyed
    #: pseudonym, never the username) in each window; past it, only addresses without a
    #: failure of their own in the window are checked, so failures sent from elsewhere cannot
    #: lock the user out.
    token_rate_failures_per_username: int = 10

    def __post_init__(self) -> None:
        if self.signing_alg not in ALGORITHMS:
            raise ConfigurationError(f"signing_alg must be one of {', '.join(ALGORITHMS)}")
        for name in _POSITIVE_DURATIONS:
            if not _finite_number(getattr(self, name)) or getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a finite, positive number of seconds")
        for name in _POSITIVE_COUNTS:
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise ConfigurationError(f"{name} must be a positive whole number")
        if not _finite_number(self.leeway) or not 0 <= self.leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if self.state_poll_interval > MAX_STATE_POLL_INTERVAL:
            raise ConfigurationError(
                f"state_poll_interval must be at most {MAX_STATE_POLL_INTERVAL:g} seconds"
            )
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
        if type(self.max_token_bytes) is not int or self.max_token_bytes < 512:
            raise ConfigurationError("max_token_bytes is too small to hold any access token")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.as_log_dict().items())
        return f"Settings({fields})"

    __str__ = __repr__

    def as_log_dict(self) -> dict[str, object]:
        """Every setting, safe to log: URL passwords masked, ``kek`` left out."""
        values: dict[str, object] = {}
        for f in dataclasses.fields(self):
            if f.name == "kek":
                continue
            value = getattr(self, f.name)
            if f.name in _SECRET_URLS and value is not None:
                value = mask_url(value)
            values[f.name] = value
        return values

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


def mask_url(url: str) -> str:
    """``url`` with its password (and secret-looking query values) replaced by ``***``.

    The userinfo is everything between ``://`` and the *last* ``@``: a password may hold ``/``,
    ``?``, ``#``, ``@``, ``%`` or ``:`` unescaped, where :func:`urllib.parse.urlsplit` would cut
    the authority short and show the rest of the password as a path, query or fragment. When
    an ``@`` also appears in the path or query, more is masked than needed, never less.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not sep or not at:
        return _mask_query(url)
    # A user name holds no unescaped ':' (RFC 3986 §3.2.1), nor any of '/?#': if it seems to,
    # the '@' was not the end of the userinfo, and the whole of it is masked.
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{_MASK}" if colon else user
    if any(c in user for c in "/?#[]"):
        shown = _MASK
    return f"{scheme}://{shown}@{_mask_query(hostpart)}"


def _mask_query(url: str) -> str:
    """``url`` with the values of secret-looking query parameters masked; the rest as is."""
    base, question, query = url.partition("?")
    if not question:
        return url
    query, hash_, fragment = query.partition("#")
    try:
        pairs = parse_qsl(query, keep_blank_values=True)
    except ValueError:  # better no query in the log than a password
        return f"{base}?{_MASK}"
    masked = urlencode(
        [(k, _MASK if any(w in k.lower() for w in _SECRET_QUERY_KEYS) else v) for k, v in pairs],
        safe="*",
    )
    return f"{base}?{masked}{hash_}{fragment}"


def _finite_number(value: object) -> bool:
    # bool is an int subclass: ``access_ttl=True`` is a mistake, not one second.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
