"""docs/scan.md stays true: its check table and JSON schema match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tokenveil.scan import RULES
from tokenveil.scan._report import json_report_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "scan.md"


def test_check_table_lists_every_rule_with_its_severity_cwe_and_owasp() -> None:
    """One row per rule id, with the catalogue's default severity, CWE and OWASP category."""
    rows = re.findall(
        r"^\| (TV-\w+-\d{3}) \| (.+?) \| (\w+) \| CWE-(\d+) \| (API.+?) \|$",
        DOC.read_text("utf-8"),
        flags=re.MULTILINE,
    )
    assert [r[0] for r in rows] == list(RULES)
    for rule_id, title, severity, cwe, owasp in rows:
        rule = RULES[rule_id]
        assert (title, severity, int(cwe), owasp) == (
            rule.title,
            rule.severity.value,
            rule.cwe,
            rule.owasp,
        )


def test_documented_json_schema_is_the_shipped_schema() -> None:
    """The schema block under 'JSON report schema' is the one the JSON report is tested with."""
    text = DOC.read_text("utf-8").split("## JSON report schema", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", text, flags=re.DOTALL)
    assert block is not None
    assert json.loads(block.group(1)) == json_report_schema()
