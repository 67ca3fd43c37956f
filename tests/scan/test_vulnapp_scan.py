"""End to end: the scanner finds every flaw planted in tests/scan/vulnapp.py, on 127.0.0.1."""

from __future__ import annotations

import json
import re

import pytest

from tests.scan.vulnapp import SECRET, USERS
from tokenveil.scan import ScanResult, Severity, render


def _ids_at(result: ScanResult, finding_id: str) -> set[str]:
    return {f.endpoint for f in result.findings if f.id == finding_id}


@pytest.mark.parametrize(
    ("finding_id", "endpoint"),
    [
        ("TV-JWT-001", "POST /token"),  # email and phone in the payload
        ("TV-JWT-003", "POST /token"),  # 8-hour access tokens
        ("TV-JWT-007", "POST /token"),  # HS256 secret "changeme"
        ("TV-PII-002", "GET /debug/token"),  # decoded token echoed
        ("TV-PII-003", "GET /me"),  # 401 echoes the token
        ("TV-PII-003", "GET /orders/{order_id}"),  # 500 carries the caller's email
        ("TV-PII-004", "GET /orders/{order_id}"),  # stack trace
        ("TV-PII-005", "GET /preferences"),  # undeclared recovery_email
        ("TV-PII-006", "GET /users/{user_id}"),  # BOLA
        ("TV-PII-007", "GET /debug/settings"),  # settings dump
        ("TV-VAL-001", "GET /profile"),  # signature never checked
        ("TV-VAL-002", "GET /legacy/me"),  # alg none accepted
        ("TV-TRN-003", "GET /me"),  # ?access_token=
        ("TV-TRN-004", "POST /token"),  # no Cache-Control on the token answer
        ("TV-TRN-006", "POST /token"),  # session cookie without HttpOnly
    ],
)
def test_planted_flaw_is_found(vulnapp_result: ScanResult, finding_id: str, endpoint: str) -> None:
    """Each anti-pattern of the seed articles is reported by id on the route that has it."""
    assert endpoint in _ids_at(vulnapp_result, finding_id)


def test_signature_and_alg_none_flaws_are_not_smeared_over_sound_routes(
    vulnapp_result: ScanResult,
) -> None:
    """Only /profile skips the signature and only /legacy/me honours alg none."""
    assert _ids_at(vulnapp_result, "TV-VAL-001") == {"GET /profile"}
    assert _ids_at(vulnapp_result, "TV-VAL-002") == {"GET /legacy/me"}


def test_settings_dump_with_secrets_is_critical(vulnapp_result: ScanResult) -> None:
    """The unauthenticated SECRET_KEY dump is the worst kind of debug route."""
    (f,) = [
        x
        for x in vulnapp_result.findings
        if x.id == "TV-PII-007" and x.endpoint == "GET /debug/settings"
    ]
    assert f.severity is Severity.CRITICAL


def test_loopback_http_is_informational_only(vulnapp_result: ScanResult) -> None:
    """The test server is http on 127.0.0.1: TV-TRN-001 is info, TV-TRN-002 absent."""
    assert {f.severity for f in vulnapp_result.findings if f.id == "TV-TRN-001"} == {Severity.INFO}
    assert not _ids_at(vulnapp_result, "TV-TRN-002")


def test_scan_completes_within_a_bounded_number_of_requests(vulnapp_result: ScanResult) -> None:
    """The whole audit of this 10-route app stays well under the default budget of 300."""
    assert vulnapp_result.complete
    assert 50 < vulnapp_result.requests < 300


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "html"])
def test_reports_never_contain_tokens_pii_passwords_or_secrets(
    vulnapp_result: ScanResult, fmt: str
) -> None:
    """Invariant 6: evidence names claims and kinds; no value from the app leaks into a report."""
    report = render(vulnapp_result, fmt)
    for user in USERS.values():
        for field in ("email", "phone", "password"):
            assert str(user[field]) not in report
    assert SECRET not in report
    assert "hunter2" not in report
    # No JWT-shaped string at all: at most the first 6 characters of a token may appear.
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}", report)
    if fmt in ("json", "sarif"):
        json.loads(report)
