"""Reports: text (rich), JSON, SARIF 2.1.0 and a self-contained HTML page, all rendered from the
plain :class:`ScanResult`. Evidence is already redacted by the checks; the HTML escapes it anyway.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tokenveil.scan._catalog import RULES
from tokenveil.scan._model import Finding, ScanResult, Severity

__all__ = [
    "JSON_SCHEMA_VERSION",
    "json_report_schema",
    "render",
    "render_html",
    "render_json",
    "render_sarif",
    "render_text",
    "summary",
]

TOOL_NAME = "tokenveil-scan"
TOOL_VERSION = "0.1.0"
JSON_SCHEMA_VERSION = 1
_ORDER = sorted(Severity, key=lambda s: -s.rank)
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
#: GitHub code scanning reads this property to rank security alerts (critical > 9.0).
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_COLOURS = {
    Severity.CRITICAL: "#7b1fa2",
    Severity.HIGH: "#c62828",
    Severity.MEDIUM: "#ef6c00",
    Severity.LOW: "#1565c0",
    Severity.INFO: "#546e7a",
}
_RICH_STYLE = {
    Severity.CRITICAL: "bold magenta",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    """Count of findings per severity, every severity present (worst first)."""
    counts = {s.value: 0 for s in _ORDER}
    for f in findings:
        counts[f.severity.value] += 1
    return counts


def json_report_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) the JSON report follows; shipped in the package."""
    text = resources.files("tokenveil.scan").joinpath("_data/report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def render_json(result: ScanResult) -> str:
    """The JSON report (schema documented in docs/scan.md, pinned by a test)."""
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "target": result.target,
        "started_at": result.started_at,
        "duration_seconds": result.duration,
        "requests": result.requests,
        "complete": result.complete,
        "notes": list(result.notes),
        "summary": summary(result.findings),
        "findings": [f.to_dict() for f in result.findings],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _fingerprint(f: Finding) -> str:
    return hashlib.sha256(f"{f.id}|{f.endpoint}".encode()).hexdigest()[:32]


def _endpoint_uri(target: str, endpoint: str) -> str:
    """A valid URI for the endpoint: template braces are percent-encoded (RFC 3986)."""
    _, _, path = endpoint.partition(" ")
    return target.rstrip("/") + (quote(path, safe="/") if path.startswith("/") else "/")


def render_sarif(result: ScanResult) -> str:
    """A SARIF 2.1.0 log: one rule per finding id, one result per finding."""
    used = sorted({f.id for f in result.findings} | set(RULES))
    index = {rule_id: i for i, rule_id in enumerate(used)}
    rules = []
    for rule_id in used:
        rule = RULES[rule_id]
        rules.append(
            {
                "id": rule.id,
                "name": "".join(
                    w.capitalize()
                    for w in rule.title.replace("(", "")
                    .replace(")", "")
                    .replace(",", "")
                    .replace(":", "")
                    .replace("/", " ")
                    .split()
                ),
                "shortDescription": {"text": rule.title},
                "fullDescription": {"text": f"{rule.title} (CWE-{rule.cwe}, {rule.owasp})."},
                "help": {"text": rule.remediation},
                "helpUri": f"https://cwe.mitre.org/data/definitions/{rule.cwe}.html",
                "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
                "properties": {
                    "tags": ["security", f"external/cwe/cwe-{rule.cwe}", rule.owasp.split()[0]],
                    "security-severity": _SECURITY_SEVERITY[rule.severity],
                    "precision": "high",
                },
            }
        )
    results = []
    for f in result.findings:
        results.append(
            {
                "ruleId": f.id,
                "ruleIndex": index[f.id],
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f"{f.title} at {f.endpoint}: " + "; ".join(f.evidence)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _endpoint_uri(result.target, f.endpoint)}
                        },
                        "logicalLocations": [{"name": f.endpoint, "kind": "resource"}],
                    }
                ],
                "partialFingerprints": {"tokenveilFinding/v1": _fingerprint(f)},
                "properties": {
                    "severity": f.severity.value,
                    "security-severity": _SECURITY_SEVERITY[f.severity],
                    "cwe": f.cwe_id,
                    "owasp": f.owasp,
                    "remediation": f.remediation,
                },
            }
        )
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": TOOL_VERSION,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": result.complete,
                        "toolExecutionNotifications": [
                            {"message": {"text": note}, "level": "warning"} for note in result.notes
                        ],
                    }
                ],
                "results": results,
                "properties": {"target": result.target, "requests": result.requests},
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;
color:#1d232a}
header{background:#1d2b3a;color:#fff;padding:24px 40px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;color:#c5d0dc}
main{padding:24px 40px;max-width:1200px}
.summary{display:flex;gap:12px;margin-bottom:24px;flex-wrap:wrap}
.sev{border-radius:8px;padding:12px 18px;color:#fff;min-width:110px}
.sev b{display:block;font-size:28px;line-height:1.1}
.note{background:#fff8e1;border-left:4px solid #ffb300;padding:8px 14px;margin-bottom:16px}
section.endpoint{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);
margin-bottom:18px;padding:4px 20px 12px}
section.endpoint h2{font:600 16px ui-monospace,Menlo,Consolas,monospace;margin:14px 0 8px}
article{border-top:1px solid #e3e6ea;padding:10px 0}
article h3{margin:0 0 4px;font-size:15px}
.badge{display:inline-block;border-radius:4px;color:#fff;font-size:12px;padding:1px 8px;
margin-right:8px;text-transform:uppercase;letter-spacing:.03em}
.meta{color:#5b6773;font-size:13px}
ul{margin:6px 0 6px 18px;padding:0}
.fix{font-size:14px;color:#2e4b33}
.clean{background:#e8f5e9;border-radius:8px;padding:16px 20px}
"""


def render_html(result: ScanResult) -> str:
    """One self-contained page: inline CSS, no script, no external asset; everything escaped."""
    e = html.escape
    counts = summary(result.findings)
    cards = "".join(
        f'<div class="sev" style="background:{_COLOURS[s]}"><b>{counts[s.value]}</b>'
        f"{e(s.value.capitalize())}</div>"
        for s in _ORDER
    )
    notes = "".join(f'<div class="note">{e(n)}</div>' for n in result.notes)
    groups: dict[str, list[Finding]] = {}
    for f in result.findings:
        groups.setdefault(f.endpoint, []).append(f)
    sections = []
    for endpoint, items in sorted(
        groups.items(), key=lambda kv: -max(f.severity.rank for f in kv[1])
    ):
        articles = "".join(
            f'<article><h3><span class="badge" style="background:{_COLOURS[f.severity]}">'
            f"{e(f.severity.value)}</span>{e(f.id)} · {e(f.title)}</h3>"
            f'<div class="meta">{e(f.cwe_id)} · {e(f.owasp)}</div>'
            f"<ul>{''.join(f'<li>{e(item)}</li>' for item in f.evidence)}</ul>"
            f'<div class="fix">Fix: {e(f.remediation)}</div></article>'
            for f in items
        )
        sections.append(f'<section class="endpoint"><h2>{e(endpoint)}</h2>{articles}</section>')
    body = "".join(sections) or '<div class="clean">No findings.</div>'
    state = "complete" if result.complete else "partial"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>tokenveil scan: {e(result.target)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>tokenveil scan report</h1><p>{e(result.target)} · {e(result.started_at)} · "
        f"{result.requests} requests · {e(state)}</p></header>"
        f'<main><div class="summary">{cards}</div>{notes}{body}</main></body></html>\n'
    )


def render_text(result: ScanResult, console: Console) -> None:
    """Rich tables: a severity summary, then one row per finding."""
    counts = summary(result.findings)
    head = Table(title=f"tokenveil scan: {result.target}", show_header=True)
    for s in _ORDER:
        head.add_column(s.value, justify="right", style=_RICH_STYLE[s])
    head.add_row(*(str(counts[s.value]) for s in _ORDER))
    console.print(head)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if not result.findings:
        console.print("No findings.")
        return
    table = Table(show_lines=True)
    table.add_column("Severity")
    table.add_column("Id")
    table.add_column("Finding")
    table.add_column("Endpoint")
    table.add_column("Evidence")
    for f in result.findings:
        table.add_row(
            f"[{_RICH_STYLE[f.severity]}]{f.severity.value}[/]",
            f.id,
            f"{f.title}\n[dim]{f.cwe_id} · {f.owasp.split()[0]}[/]",
            escape(f.endpoint),
            escape("\n".join(f.evidence)),
        )
    console.print(table)
    console.print(f"{result.requests} requests, {result.duration:.1f} s")


def render(result: ScanResult, fmt: str) -> str:
    """The report as a string; ``text`` is rendered without colour (for files)."""
    if fmt == "json":
        return render_json(result)
    if fmt == "sarif":
        return render_sarif(result)
    if fmt == "html":
        return render_html(result)
    buffer = io.StringIO()
    render_text(result, Console(file=buffer, width=140, no_color=True, force_terminal=False))
    return buffer.getvalue()
