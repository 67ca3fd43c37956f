"""``tokenveil clients list`` shows each client's flags (DPoP-bound, may introspect), no secret."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tokenveil.cli import app


def test_clients_list_shows_dpop_and_introspect_flags(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    gateway = ["clients", "add", "gateway", "--confidential", "--introspect"]
    added = runner.invoke(app, [*gateway, "--grant", "client_credentials", *data])
    assert added.exit_code == 0, added.output
    secret = added.output.split("not shown again): ")[1].split()[0]
    assert runner.invoke(app, ["clients", "add", "phone", "--dpop", *data]).exit_code == 0

    listed = runner.invoke(app, ["clients", "list", *data])
    assert listed.exit_code == 0, listed.output
    gateway_row = next(line for line in listed.output.splitlines() if " gateway " in line)
    phone_row = next(line for line in listed.output.splitlines() if " phone " in line)
    assert "introspect" in gateway_row
    assert "dpop" not in gateway_row
    assert "dpop" in phone_row
    assert "introspect" not in phone_row
    assert secret not in listed.output
