"""The plain data model: ordered severities, loopback detection, masked reprs."""

from __future__ import annotations

import pytest

from tokenveil.scan import ScanResult, Severity, TokenSet
from tokenveil.scan._catalog import make_finding
from tokenveil.scan._model import is_loopback_url


def test_severities_are_ordered_from_info_to_critical() -> None:
    """--fail-on compares severities: info < low < medium < high < critical."""
    order = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    assert sorted(reversed(order)) == order
    assert Severity.HIGH >= Severity.HIGH
    assert Severity.LOW < Severity.MEDIUM


def test_at_or_over_and_worst() -> None:
    """The CLI's exit code comes from these two."""
    findings = [make_finding("TV-JWT-005", "x", []), make_finding("TV-VAL-001", "y", [])]
    result = ScanResult("http://127.0.0.1", findings, requests=1)
    assert result.worst() is Severity.CRITICAL
    assert [f.id for f in result.at_or_over(Severity.HIGH)] == ["TV-VAL-001"]
    assert ScanResult("http://127.0.0.1", [], requests=0).worst() is None


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.9.9.9", True),
        ("http://[::1]:8080/", True),
        ("http://localhost:3000", True),
        ("http://api.localhost", True),
        ("https://api.example.test", False),
        ("http://10.0.0.5", False),
        ("http://127.0.0.1.example.test", False),
    ],
)
def test_loopback_detection(url: str, loopback: bool) -> None:
    """Only 127/8, ::1 and localhost names count: they decide the plain-HTTP severity."""
    assert is_loopback_url(url) is loopback


def test_token_set_repr_lists_roles_only() -> None:
    """Tokens held for a user never reach a repr."""
    tokens = TokenSet(access="acc-secret-1", refresh="ref-secret-2", extra={"reset_token": "r-3"})
    text = repr(tokens)
    assert "secret" not in text
    assert "r-3" not in text
    assert "reset_token" in text
