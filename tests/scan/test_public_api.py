"""The scanner's public surface is curated: this pins it."""

from __future__ import annotations

import tokenveil.scan
from tokenveil.scan._cli import scan_command


def test_exported_names_are_exactly_the_curated_list() -> None:
    """Adding or removing a public name is a deliberate act that updates this list."""
    assert sorted(tokenveil.scan.__all__) == sorted(
        [
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
    )
    for name in tokenveil.scan.__all__:
        assert hasattr(tokenveil.scan, name), name


def test_every_rule_has_cwe_owasp_and_remediation() -> None:
    """Each finding id maps to one CWE, one OWASP API Top 10 2023 category and a fix."""
    for rule_id, rule in tokenveil.scan.RULES.items():
        assert rule_id == rule.id
        assert rule.id.startswith(("TV-JWT-", "TV-VAL-", "TV-PII-", "TV-TRN-"))
        assert rule.cwe > 0
        assert rule.owasp.startswith("API")
        assert ":2023 " in rule.owasp
        assert len(rule.remediation) > 20


def test_scan_command_is_a_plain_function_for_the_cli_to_mount() -> None:
    """The lead mounts it with app.command("scan")(scan_command)."""
    assert callable(scan_command)
    assert scan_command.__name__ == "scan_command"
