"""Log redaction: no token, refresh token, password or PII in any log line (CWE-532).

One chain of small pure processors (:func:`default_chain`), plugged into every logging stack:

* stdlib: :class:`RedactingFilter` on handlers, :class:`RedactingFormatter` around formatters,
  and :func:`install` for the whole process in one call;
* structlog: :class:`StructlogRedactor` as a processor;
* uvicorn: :func:`uvicorn_log_config` for ``uvicorn.run(log_config=...)``;
* tests: :func:`capture_logs`.
"""

from __future__ import annotations

from tokenveil.logs._capture import CapturedLog, capture_logs
from tokenveil.logs._processors import (
    REDACTED,
    BearerRedactor,
    HeaderRedactor,
    JWTRedactor,
    PIIRedactor,
    QueryStringRedactor,
    RedactionChain,
    Redactor,
    RefreshTokenRedactor,
    SecretFieldRedactor,
    default_chain,
    scrub_exception,
)
from tokenveil.logs._stdlib import (
    RedactingFilter,
    RedactingFormatter,
    install,
    installed_filter,
    uninstall,
)
from tokenveil.logs._structlog import StructlogRedactor
from tokenveil.logs._uvicorn import uvicorn_log_config

__all__ = [
    "REDACTED",
    "BearerRedactor",
    "CapturedLog",
    "HeaderRedactor",
    "JWTRedactor",
    "PIIRedactor",
    "QueryStringRedactor",
    "RedactingFilter",
    "RedactingFormatter",
    "RedactionChain",
    "Redactor",
    "RefreshTokenRedactor",
    "SecretFieldRedactor",
    "StructlogRedactor",
    "capture_logs",
    "default_chain",
    "install",
    "installed_filter",
    "scrub_exception",
    "uninstall",
    "uvicorn_log_config",
]


def _config_filter() -> RedactingFilter:
    """dictConfig factory: the process-wide filter when installed, else a fresh one."""
    return installed_filter() or RedactingFilter()
