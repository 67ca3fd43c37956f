"""tokenveil's scanner: audits an HTTP API for JWT weaknesses and personal-data leaks.

The safe surface: build :class:`ScanOptions`, run a :class:`Scanner`, render the
:class:`ScanResult` with :func:`render`. Checks are pure functions over recorded exchanges
(:func:`analyse`), so a scan can be analysed again, or tested, without any network.

::

    result = await Scanner(ScanOptions(url="https://api.example.test", token=t)).run()
    print(render(result, "sarif"))
"""

from __future__ import annotations

from tokenveil.scan._catalog import RULES, Rule
from tokenveil.scan._checks import ALL_CHECKS, Observations, analyse
from tokenveil.scan._driver import BudgetExhausted, ScanError, TargetUnreachable, UnsafeRequest
from tokenveil.scan._engine import Scanner, ScanOptions
from tokenveil.scan._model import (
    Endpoint,
    Exchange,
    Finding,
    RecordedRequest,
    RecordedResponse,
    ScanResult,
    Severity,
    Target,
    TokenSet,
)
from tokenveil.scan._report import render, render_html, render_json, render_sarif, render_text

__all__ = [
    "ALL_CHECKS",
    "RULES",
    "BudgetExhausted",
    "Endpoint",
    "Exchange",
    "Finding",
    "Observations",
    "RecordedRequest",
    "RecordedResponse",
    "Rule",
    "ScanError",
    "ScanOptions",
    "ScanResult",
    "Scanner",
    "Severity",
    "Target",
    "TargetUnreachable",
    "TokenSet",
    "UnsafeRequest",
    "analyse",
    "render",
    "render_html",
    "render_json",
    "render_sarif",
    "render_text",
]
