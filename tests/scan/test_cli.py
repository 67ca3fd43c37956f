"""``tokenveil scan``: exit codes 0/1/2, passwords only from the environment, clean failures."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import free_port
from tokenveil.scan import ScanResult, _cli
from tokenveil.scan._cli import scan_command

app = typer.Typer()
app.command("scan")(scan_command)


@app.callback()
def _root() -> None:
    """Keeps ``scan`` a sub-command, as in the real CLI."""


runner = CliRunner()
PASSWORD = "alice-pass"


def _scan(*args: str) -> Any:
    return runner.invoke(app, ["scan", *args, "--rate", "0", "--quiet"])


def test_findings_at_or_over_fail_on_exit_1(
    vulnapp_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vulnerable app has critical findings: exit 1 with the default --fail-on high."""
    monkeypatch.setenv("SCAN_PW", PASSWORD)
    out = tmp_path / "report.json"
    result = _scan(
        vulnapp_url,
        "--login",
        f"{vulnapp_url}/token",
        "--username",
        "alice",
        "--password-env",
        "SCAN_PW",
        "--format",
        "json",
        "--output",
        str(out),
        "--max-requests",
        "1000",
    )
    assert result.exit_code == 1, result.output
    doc = json.loads(out.read_text())
    assert doc["summary"]["critical"] > 0
    assert PASSWORD not in result.output
    assert PASSWORD not in out.read_text()


def test_fail_on_never_exits_0_even_with_findings(vulnapp_url: str) -> None:
    """--fail-on never: report only, exit 0 (for exploratory runs)."""
    result = _scan(vulnapp_url, "--fail-on", "never", "--format", "sarif")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == "2.1.0"


def test_clean_target_exits_0(clean_url: str) -> None:
    """Nothing at or over high: exit 0, and the text report says there is nothing."""
    result = _scan(clean_url)
    assert result.exit_code == 0, result.output
    assert "No findings." in result.stdout


def test_unreachable_target_exits_2_with_one_line(tmp_path: Path) -> None:
    """Connection refused: exit 2, one clear line, no traceback."""
    result = _scan(f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    assert "cannot reach" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://127.0.0.1/"], "http:// or https://"),
        (["http://127.0.0.1:9", "--login", "http://127.0.0.1:9/token"], "--password-env"),
        (
            [
                "http://127.0.0.1:9",
                "--login",
                "http://127.0.0.1:9/token",
                "--username",
                "u",
                "--password-env",
                "TOKENVEIL_SCAN_UNSET_VAR",
            ],
            "TOKENVEIL_SCAN_UNSET_VAR is not set",
        ),
        (["http://127.0.0.1:9", "--second-user", "bob"], "--second-password-env"),
        (["http://127.0.0.1:9", "--format", "pdf"], ""),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    """Bad URL, a missing password variable, half a second user, an unknown format: exit 2."""
    result = _scan(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_password_is_never_accepted_on_the_command_line() -> None:
    """There is no --password option: argv is visible to every local user (CWE-214)."""
    result = _scan("http://127.0.0.1:9", "--password", "x")
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_budget_exhaustion_yields_a_partial_report(vulnapp_url: str) -> None:
    """--max-requests 5: the scan stops, the JSON report says complete: false."""
    result = _scan(vulnapp_url, "--max-requests", "5", "--format", "json", "--fail-on", "never")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["complete"] is False
    assert doc["requests"] == 5
    assert any("budget" in n for n in doc["notes"])


def test_ctrl_c_ends_cleanly_with_a_partial_report(
    clean_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt during the scan: no traceback, the report says it was interrupted."""

    def interrupted(coro: Coroutine[Any, Any, Any]) -> Any:
        coro.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_run_async", interrupted)
    result = _scan(clean_url, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["complete"] is False
    assert "interrupted: the scan is partial" in doc["notes"]


def _findings(path: Path) -> set[tuple[str, str]]:
    return {(f["id"], f["endpoint"]) for f in json.loads(path.read_text())["findings"]}


def test_active_scan_finds_tokens_surviving_logout(
    vulnapp_url: str, vulnapp_result: ScanResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--active logs out via POST /logout and replays the token (TV-VAL-010); passive never does."""
    monkeypatch.setenv("SCAN_PW", PASSWORD)
    active = tmp_path / "active.json"
    result = _scan(
        vulnapp_url,
        "--login",
        f"{vulnapp_url}/token",
        "--username",
        "alice",
        "--password-env",
        "SCAN_PW",
        "--format",
        "json",
        "--max-requests",
        "1000",
        "--output",
        str(active),
        "--active",
    )
    assert result.exit_code == 1
    assert ("TV-VAL-010", "GET /me") in _findings(active)
    assert not [f for f in vulnapp_result.findings if f.id == "TV-VAL-010"]


def test_json_login_with_a_nested_token_is_followed(
    vulnapp_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON-only login answering {"data": {"token": ...}}: form is refused, JSON works."""
    monkeypatch.setenv("SCAN_PW", PASSWORD)
    out = tmp_path / "report.json"
    result = _scan(
        vulnapp_url,
        "--login",
        f"{vulnapp_url}/api/login",
        "--username",
        "alice",
        "--password-env",
        "SCAN_PW",
        "--format",
        "json",
        "--output",
        str(out),
        "--max-requests",
        "1000",
    )
    assert result.exit_code == 1, result.output
    found = _findings(out)
    assert ("TV-JWT-001", "POST /api/login") in found
    assert ("TV-VAL-002", "GET /legacy/me") in found


def test_token_option_and_openapi_file(vulnapp_url: str, tmp_path: Path) -> None:
    """--token plus --openapi FILE: the declared routes are attacked with the given token."""
    from tests.scan.vulnapp import USERS, _issue
    from tests.scan.vulnapp import app as vuln

    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(vuln.openapi()))
    out = tmp_path / "report.json"
    token = _issue(USERS["alice"], "access", 600)
    result = _scan(
        vulnapp_url,
        "--token",
        token,
        "--openapi",
        str(spec),
        "--format",
        "json",
        "--output",
        str(out),
        "--max-requests",
        "1000",
    )
    assert result.exit_code == 1, result.output
    assert ("TV-VAL-001", "GET /profile") in _findings(out)
    assert token not in out.read_text()


def test_missing_openapi_file_is_a_usage_error(tmp_path: Path, clean_url: str) -> None:
    """--openapi pointing nowhere: exit 2 with a one-line message."""
    result = _scan(clean_url, "--openapi", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "cannot read the OpenAPI file" in result.output


def test_progress_bar_on_stderr_does_not_break_the_report(clean_url: str) -> None:
    """Without --quiet a progress bar runs (stderr); stdout still holds a parseable report."""
    result = runner.invoke(app, ["scan", clean_url, "--rate", "0", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["complete"] is True
