"""The kill switch against real ``tokenveil serve`` processes with 20 looping clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.killswitch import (
    default_env,
    fire_with_cli,
    fire_with_endpoint,
    scenario,
    setup_store,
)
from bench.serving import serving

pytestmark = pytest.mark.slow

CLIENTS = 20
#: Upper bound asserted for propagation; the measured figure is printed (pytest -s).
BOUND = 2.0


async def test_clients_renew_silently_through_a_cli_kill_switch(tmp_path: Path) -> None:
    """CLI purge on SQLite: old tokens die within 2 s, none accepted after, no client fails."""
    env = default_env(0.2)
    data_dir = tmp_path / "data"
    await setup_store(data_dir, env, users=2)
    with serving(data_dir, env) as servers:
        fire = fire_with_cli(data_dir, env, "--rotate-keys", "--revoke-families", "suspect")
        figures = await scenario(
            servers, clients=CLIENTS, users=2, dpop=False, fire=fire, after=2.5
        )
    print(f"\nSQLite, CLI purge --rotate-keys: {figures.summary()}")
    delays = figures.propagation()
    assert set(delays) == {servers[0].base}
    assert all(0 <= delay < BOUND for delay in delays.values())
    assert figures.old_accepted_after == 0
    assert figures.legit_failed == 0
    assert figures.must_login_again == 0
    assert figures.refreshes >= CLIENTS


async def test_unbound_purge_spares_dpop_clients_and_logs_out_bearer_ones(tmp_path: Path) -> None:
    """Admin endpoint, --revoke-families unbound: DPoP-bound clients renew, bearer ones cannot."""
    env = default_env(0.2)
    data_dir = tmp_path / "data"
    secret = await setup_store(data_dir, env, users=2)
    assert secret is not None
    with serving(data_dir, env) as servers:
        fire = fire_with_endpoint(servers[0].base, "bench-admin", secret, revoke_families="unbound")
        figures = await scenario(servers, clients=CLIENTS, users=2, dpop=True, fire=fire, after=2.0)
    print(f"\nSQLite, endpoint purge unbound: {figures.summary()}")
    assert all(0 <= delay < BOUND for delay in figures.propagation().values())
    assert figures.old_accepted_after == 0
    assert figures.legit_failed == 0
    assert figures.must_login_again == CLIENTS // 2
