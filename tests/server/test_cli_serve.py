"""``tokenveil serve``: redacted uvicorn logging, and first-token instructions that copy-paste."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tokenveil.cli import app


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """uvicorn.run replaced by a recorder: the command runs, no server starts."""
    for name in ("TOKENVEIL_DATABASE_URL", "TOKENVEIL_REDIS_URL", "TOKENVEIL_KEK"):
        monkeypatch.delenv(name, raising=False)
    calls: dict[str, Any] = {}

    def run(app: object, **kwargs: Any) -> None:
        calls["app"] = app
        calls.update(kwargs)

    monkeypatch.setattr("uvicorn.run", run)
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal: rich would wrap here
    return calls


def test_serve_passes_the_redacting_uvicorn_log_config(
    served: dict[str, Any], tmp_path: Path
) -> None:
    """Every uvicorn handler (access log included) carries the tokenveil redaction filter."""
    answer = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--port", "8123"])
    assert answer.exit_code == 0, answer.output
    config = served["log_config"]
    assert config["handlers"]
    assert config["filters"]["tokenveil_redact"] == {"()": "tokenveil.logs._config_filter"}
    for handler in config["handlers"].values():
        assert "tokenveil_redact" in handler["filters"]


def test_serve_prints_first_token_commands_unwrapped(
    served: dict[str, Any], tmp_path: Path
) -> None:
    """Long curl and CLI lines come out whole, however narrow the terminal and long the path."""
    data_dir = tmp_path / ("a-long-directory-name-" * 4) / "[data]"
    answer = CliRunner().invoke(app, ["serve", "--data-dir", str(data_dir), "--port", "8123"])
    assert answer.exit_code == 0, answer.output
    lines = answer.output.splitlines()
    assert f"  .venv/bin/tokenveil users add alice --data-dir {data_dir}" in lines
    curl = (
        "  curl -s -X POST http://127.0.0.1:8123/oauth/token -d grant_type=password "
        "-d username=alice \\"
    )
    assert curl in lines
    assert any(
        line.startswith("Then: curl -s http://127.0.0.1:8123/api/me -H 'Authorization: Bearer")
        and line.endswith("(docs: http://127.0.0.1:8123/docs)")
        for line in lines
    )
