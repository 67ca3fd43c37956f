"""The `tokenveil pii` CLI (Typer app): exit codes, locations, masked previews, masking."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from typer.testing import CliRunner

from tokenveil.pii._cli import app

runner = CliRunner()
EMAIL = "ana.lima@example.org"
CARD = "4111 1111 1111 1111"


def test_scan_reports_kind_location_and_masked_preview_and_exits_1(tmp_path: Path) -> None:
    """A text file with PII: exit 1, line:column per finding, the value never printed whole."""
    path = tmp_path / "ticket.txt"
    path.write_text(f"hello\nmail {EMAIL}\ncard {CARD} ok\n")
    result = runner.invoke(app, ["scan", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2:6: EMAIL" in result.stdout
    assert f"{path}:3:6: CREDIT_CARD" in result.stdout
    assert "**** **** **** 1111" in result.stdout
    assert EMAIL not in result.output
    assert CARD not in result.output


def test_scan_of_a_clean_file_exits_0(tmp_path: Path) -> None:
    """Nothing found: exit 0 and no finding lines."""
    path = tmp_path / "clean.json"
    path.write_text(json.dumps({"id": "123e4567-e89b-12d3-a456-426614174000", "n": 3}))
    result = runner.invoke(app, ["scan", str(path)])
    assert result.exit_code == 0
    assert result.stdout == ""


def test_scan_of_an_unreadable_path_exits_2(tmp_path: Path) -> None:
    """A missing file or a directory is an input error: exit 2."""
    assert runner.invoke(app, ["scan", str(tmp_path / "missing.txt")]).exit_code == 2
    assert runner.invoke(app, ["scan", str(tmp_path)]).exit_code == 2


def test_scan_stdin_json_format_gives_paths_and_previews() -> None:
    """`-` reads stdin; --format json lists kind, path, offsets and a masked preview."""
    body = json.dumps({"user": {"email": EMAIL}, "card": 4111111111111111})
    result = runner.invoke(app, ["scan", "-", "--format", "json"], input=body)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["count"] == 2
    first, second = report["findings"]
    assert (first["kind"], first["path"], first["start"], first["end"]) == (
        "EMAIL",
        "$.user.email",
        0,
        20,
    )
    assert second["preview"] == "************1111"
    assert EMAIL not in result.stdout


def test_scan_ndjson_logs_locates_by_line_and_path(tmp_path: Path) -> None:
    """Each JSON log line is scanned structurally and reported with its line number."""
    path = tmp_path / "app.log"
    lines = [{"msg": "ok"}, {"msg": "login", "user": {"email": EMAIL}}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(app, ["scan", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2 $.user.email[0:20]: EMAIL" in result.stdout


def test_secret_previews_show_only_kind_and_length() -> None:
    """Tokens and keys never show even a tail in previews."""
    key = "ghp_" + secrets.token_hex(18)
    result = runner.invoke(app, ["scan", "-"], input=f"token {key}\n")
    assert result.exit_code == 1
    assert f"[API_KEY, {len(key)} chars]" in result.stdout
    assert key[-4:] not in result.stdout


def test_mask_writes_valid_masked_json_and_masked_text() -> None:
    """JSON stays JSON; text is masked in place."""
    body = json.dumps({"user": {"email": EMAIL}})
    result = runner.invoke(app, ["mask", "-"], input=body)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"user": {"email": "[EMAIL]"}}
    text = runner.invoke(app, ["mask", "-", "--operator", "partial"], input=f"card {CARD}\n")
    assert text.stdout == "card **** **** **** 1111\n"


def test_mask_pseudonymize_needs_a_key_file(tmp_path: Path) -> None:
    """Pseudonymisation reads its key from a file and writes the key id into pseudonyms."""
    assert runner.invoke(app, ["mask", "-", "-o", "pseudonymize"], input="x").exit_code == 2
    key_file = tmp_path / "pii.key"
    key_file.write_bytes(secrets.token_hex(32).encode())
    args = ["mask", "-", "-o", "pseudonymize", "--key-file", str(key_file), "--key-id", "k7"]
    first = runner.invoke(app, args, input=f"mail {EMAIL}\n")
    second = runner.invoke(app, args, input=f"mail {EMAIL.upper()}\n")
    assert first.exit_code == 0
    assert first.stdout.startswith("mail [EMAIL:k7:")
    assert first.stdout == second.stdout
