"""``tokenveil killswitch purge``: what it prints, and how it refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokenveil.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("TOKENVEIL_DATABASE_URL", "TOKENVEIL_REDIS_URL", "TOKENVEIL_KEK"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_purge_prints_the_cutoff_and_the_counts(runner: CliRunner, tmp_path: Path) -> None:
    """A purge with rotation reports the cut-off, the revoked keys and the families."""
    args = ["killswitch", "purge", "--rotate-keys", "--revoke-families", "all"]
    answer = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert answer.exit_code == 0, answer.output
    assert re.search(r"cutoff=\d+\.\d{6} started=\d+\.\d{6}", answer.output)
    assert "2 key(s) revoked" in answer.output
    assert "refresh families revoked (all): 0" in answer.output


def test_purge_for_an_unknown_user_is_one_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    """An unknown login name exits 2 with one line that does not repeat the name."""
    answer = runner.invoke(
        app,
        ["killswitch", "purge", "--revoke-families", "ghost.user", "--data-dir", str(tmp_path)],
    )
    assert answer.exit_code == 2
    assert "Traceback" not in answer.output
    assert "ghost.user" not in answer.output
