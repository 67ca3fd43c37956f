"""Every check, in report order. A check is a pure function ``Observations -> list[Finding]``."""

from __future__ import annotations

from tokenveil.scan._checks._base import Check, Observations
from tokenveil.scan._checks._exposure import (
    check_bola,
    check_debug_endpoints,
    check_error_leaks,
    check_token_echo,
    check_token_responses,
    check_undeclared_pii,
)
from tokenveil.scan._checks._tokens import check_token_content
from tokenveil.scan._checks._transport import (
    check_cache_control,
    check_cookies,
    check_plain_http,
    check_query_token,
)
from tokenveil.scan._checks._validation import check_token_validation
from tokenveil.scan._model import Finding

__all__ = ["ALL_CHECKS", "Check", "Observations", "analyse"]

ALL_CHECKS: tuple[Check, ...] = (
    check_token_content,
    check_token_validation,
    check_token_responses,
    check_token_echo,
    check_error_leaks,
    check_undeclared_pii,
    check_bola,
    check_debug_endpoints,
    check_plain_http,
    check_query_token,
    check_cache_control,
    check_cookies,
)


def analyse(obs: Observations) -> list[Finding]:
    """Run every check; findings sorted worst first, then by id and endpoint."""
    findings = [f for check in ALL_CHECKS for f in check(obs)]
    return sorted(findings, key=lambda f: (-f.severity.rank, f.id, f.endpoint))
