"""Redaction processors: small pure callables ``str -> str``, configured in ``__init__``.

Each processor removes one family of secrets from a piece of text. A :class:`RedactionChain`
runs them in order and also walks containers (dicts, lists, tuples, bytes) so the same chain
serves stdlib ``logging``, structlog and the error handlers. Security invariant 6 (CWE-532):
no raw token, refresh token, password or PII in any log line.
"""

from __future__ import annotations

import importlib
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol
from urllib.parse import unquote_plus

from tokenveil.errors import ConfigurationError

__all__ = [
    "DEFAULT_SECRET_NAMES",
    "JWT_PATTERN",
    "REDACTED",
    "REFRESH_TOKEN_PATTERN",
    "BearerRedactor",
    "HeaderRedactor",
    "JWTRedactor",
    "PIIRedactor",
    "QueryStringRedactor",
    "RedactionChain",
    "Redactor",
    "RefreshTokenRedactor",
    "SecretFieldRedactor",
    "default_chain",
    "scrub_exception",
]

REDACTED = "[REDACTED]"

#: Field, parameter and header names whose value is a secret wherever it appears
#: (RFC 6749 §4-6 parameters, RFC 6750 §2.3 ``access_token``, common ad-hoc names).
DEFAULT_SECRET_NAMES: tuple[str, ...] = (
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "jwt",
    "password",
    "passwd",
    "client_secret",
    "secret",
    "api_key",
    "code_verifier",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
)

#: Headers whose whole value is a credential (RFC 7235 §4.2, RFC 6265 §5.4).
_CREDENTIAL_HEADERS: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
)


class Redactor(Protocol):
    """One step of a chain: returns the text with one family of secrets replaced."""

    def __call__(self, text: str) -> str: ...


def _names_alternation(names: Iterable[str]) -> str:
    # Longest first so ``refresh_token`` wins over ``token``.
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


class HeaderRedactor:
    """Replaces the value of credential headers in any common rendering.

    Handles ``Authorization: Bearer x``, ``'cookie': 'a=b'`` (dict repr) and
    ``(b'authorization', b'Bearer x')`` (ASGI header list repr).
    """

    def __init__(self, names: Iterable[str] = _CREDENTIAL_HEADERS) -> None:
        alt = _names_alternation(names)
        self._pattern = re.compile(
            # name, separator (with the opening quote, b'' for bytes reprs), then the value up
            # to a quote or the end of the line: the closing quote stays in place.
            rf"(?i)(?<![\w-])({alt})((?:[\"']\s*,|[\"']?\s*[:=])\s*(?:b(?=[\"']))?[\"']?)[^\r\n\"']+"
        )

    def __call__(self, text: str) -> str:
        return self._pattern.sub(rf"\1\2{REDACTED}", text)


class BearerRedactor:
    """Replaces the credential after an HTTP auth scheme (RFC 6750 §2.1 ``b64token``)."""

    _pattern = re.compile(r"(?i)\b(Bearer|DPoP|Basic)(\s+)[A-Za-z0-9\-._~+/]+=*")

    def __call__(self, text: str) -> str:
        if "earer" not in text and "asic" not in text and "PoP" not in text:
            return text
        return self._pattern.sub(rf"\1\2{REDACTED}", text)


#: Compact JWS/JWE (RFC 7515 §7.1, RFC 7516 §7.1). A JOSE header is a JSON object, so its
#: base64url form always starts with ``eyJ``. Shared with the egress filter and transport rules.
JWT_PATTERN = re.compile(
    r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"
    r"(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?"
)
#: tokenveil refresh tokens: ``tvr_`` + 256 random bits, base64url (tokens/_refresh.py).
REFRESH_TOKEN_PATTERN = re.compile(r"\btvr_[A-Za-z0-9_-]{20,}")


class JWTRedactor:
    """Replaces compact JWS/JWE strings anywhere in the text."""

    _pattern = JWT_PATTERN

    def __init__(self, replacement: str = "[JWT]") -> None:
        self._replacement = replacement

    def __call__(self, text: str) -> str:
        if "eyJ" not in text:
            return text
        return self._pattern.sub(self._replacement, text)


class RefreshTokenRedactor:
    """Replaces opaque refresh tokens recognised by their prefix (``tvr_`` by default)."""

    def __init__(self, pattern: re.Pattern[str] = REFRESH_TOKEN_PATTERN) -> None:
        self._pattern = pattern

    def __call__(self, text: str) -> str:
        if "_" not in text:
            return text
        return self._pattern.sub("[REFRESH_TOKEN]", text)


class SecretFieldRedactor:
    """Replaces the value of secret-named fields: ``refresh_token=...``, ``"password": "..."``.

    Covers query strings (CWE-598: ``?access_token=...``), form bodies, JSON and key=value logs.
    """

    def __init__(self, names: Iterable[str] = DEFAULT_SECRET_NAMES) -> None:
        alt = _names_alternation(names)
        self._pattern = re.compile(
            rf"(?i)(?<![A-Za-z0-9_-])({alt})([\"']?\s*[:=]\s*)"
            # Placeholders ([REDACTED], [JWT]...) are left alone, so the chain is idempotent.
            r"(?![\"']?\[[A-Z_]+\])(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s&\"',;}\]]+)"
        )

    def __call__(self, text: str) -> str:
        return self._pattern.sub(_keep_field_name, text)


def _keep_field_name(match: re.Match[str]) -> str:
    value = match.group(0)[match.end(2) - match.start(0) :]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{match.group(2)}{quote}{REDACTED}{quote}"


class PIIRedactor:
    """Masks personal data found by the :mod:`tokenveil.pii` engine (EMAIL, PHONE, CARD, ...)."""

    def __init__(self, operator: str = "redact") -> None:
        self._mask: Callable[..., str] = _engine("mask")
        self._operator = operator

    def __call__(self, text: str) -> str:
        if len(text) < 6:  # shorter than the shortest value any detector reports (a@b.co)
            return text
        if "%" in text:
            # Access logs print raw request targets: /users/jane%40example.com hides an email
            # from a detector that only reads decoded text.
            decoded = unquote_plus(text)
            if decoded != text:
                masked = self._mask(decoded, operator=self._operator)
                if masked != decoded:
                    return masked
        return self._mask(text, operator=self._operator)


class QueryStringRedactor:
    """Replaces every query-string value in URLs except those of harmless parameters.

    Query strings are user input and end up verbatim in access logs: search terms, names and
    phone numbers no detector can tell from noise (CWE-598, CWE-532).
    """

    # A value that is already a placeholder ([REDACTED], [JWT], [EMAIL]...) is left as it is.
    _pattern = re.compile(r"([?&;][A-Za-z0-9_.\-\[\]]{1,64}=)(?!\[[A-Z_]+\])([^&;#\s\"'<>]+)")

    def __init__(
        self,
        keep: Iterable[str] = ("page", "per_page", "limit", "offset", "sort", "order"),
    ) -> None:
        self._keep = frozenset(f"{name.lower()}=" for name in keep)

    def __call__(self, text: str) -> str:
        if "=" not in text:
            return text
        return self._pattern.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        prefix = match.group(1)
        if prefix[1:].lower() in self._keep:
            return match.group(0)
        return f"{prefix}{REDACTED}"


_CACHE_SIZE = 4096
_CACHE_MAX_LEN = 256


class RedactionChain:
    """Runs redactors in order over text, and over the strings inside containers.

    Mapping entries whose key is a secret name (``password``, ``authorization``...) are replaced
    whole, whatever their value looks like.
    """

    def __init__(
        self,
        processors: Sequence[Redactor],
        *,
        secret_names: Iterable[str] = DEFAULT_SECRET_NAMES,
    ) -> None:
        self.processors: tuple[Redactor, ...] = tuple(processors)
        self.secret_names = frozenset(n.lower() for n in secret_names)
        # Log lines repeat their short parts (methods, paths, user agents); the PII engine is
        # the costly step. Held in process memory only, like the records themselves.
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if len(text) > _CACHE_MAX_LEN:
            return self._run(text)
        cached = self._cache.get(text)
        if cached is None:
            cached = self._run(text)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()  # bounded; a full reset is cheaper than LRU bookkeeping
            self._cache[text] = cached
        return cached

    def _run(self, text: str) -> str:
        for processor in self.processors:
            text = processor(text)
        return text

    def redact_value(self, value: object, _depth: int = 0) -> object:
        """The value with every string inside it redacted; other scalars unchanged."""
        if isinstance(value, str):
            return self(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if _depth > 8:  # bounded: a deep or cyclic structure becomes a placeholder
            return REDACTED
        if isinstance(value, bytes | bytearray):
            return self(bytes(value).decode("utf-8", "replace")).encode()
        if isinstance(value, Mapping):
            return {
                k: (REDACTED if self.is_secret_name(k) else self.redact_value(v, _depth + 1))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            items = [self.redact_value(v, _depth + 1) for v in value]
            if isinstance(value, tuple) and len(value) == 2 and self.is_secret_name(value[0]):
                # ASGI / httpx header pairs: (b"authorization", b"Bearer ...")
                return (value[0], REDACTED)
            return tuple(items) if isinstance(value, tuple) else items
        # Unknown objects: their repr may hold anything; keep only the redacted rendering.
        return self(repr(value))

    def is_secret_name(self, key: object) -> bool:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        return isinstance(key, str) and key.lower() in self.secret_names


def _engine(name: str) -> Callable[..., Any]:
    """A function of the :mod:`tokenveil.pii` engine, or a clear error when it is missing."""
    try:
        module = importlib.import_module("tokenveil.pii")
        function: Callable[..., Any] = getattr(module, name)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"the PII engine (tokenveil.pii.{name}) is not available") from exc
    return function


def default_chain(*, pii: bool = True, pii_operator: str = "redact") -> RedactionChain:
    """Headers, bearer credentials, JWTs, secret fields, query values and, when asked, PII."""
    processors: list[Redactor] = [
        HeaderRedactor(),
        BearerRedactor(),
        JWTRedactor(),
        RefreshTokenRedactor(),
        SecretFieldRedactor(),
        QueryStringRedactor(),
    ]
    if pii:
        processors.append(PIIRedactor(pii_operator))
    return RedactionChain(processors)


def scrub_exception(
    exc: BaseException,
    redact: Callable[[str], str],
    *,
    messages: Literal["redact", "drop"] = "redact",
) -> str:
    """A traceback with no secret: frames as usual, exception messages redacted or dropped.

    Locals are never captured (CWE-209, CWE-215). Chained causes are walked the same way.
    """
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 8:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for position, item in enumerate(reversed(chain)):
        if position:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        stack = traceback.StackSummary.extract(
            traceback.walk_tb(item.__traceback__), capture_locals=False
        )
        parts.extend(stack.format())
        name = type(item).__qualname__
        module = type(item).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        if messages == "drop":
            parts.append(f"{name}: [message dropped]\n")
        else:
            parts.append(f"{name}: {redact(_safe_str(item))}\n")
    return "".join(parts)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not break logging
        return "[unprintable]"
