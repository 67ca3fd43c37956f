"""End to end: the real ``tokenveil serve`` process, driven over HTTP and by the CLI meanwhile."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tokenveil.keys._b64 import b64url_decode

pytestmark = pytest.mark.slow

PASSWORD = "e2e-password-long-enough"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENVEIL_")}
    return subprocess.run(
        [sys.executable, "-m", "tokenveil", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    port = _free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENVEIL_")}
    env["TOKENVEIL_STATE_POLL_INTERVAL"] = "0.2"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokenveil",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/.well-known/jwks.json", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("tokenveil serve did not start within 30 s")
    yield base, data_dir, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_serve_login_call_and_revoke_key_while_running(
    server: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    """users add and keys revoke work against the running server; the revoked key's token dies."""
    base, data_dir, proc = server
    added = _cli(data_dir, "users", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr[-500:]

    login = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": "tokenveil-demo",
        },
    )
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"
    access = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    assert httpx.get(f"{base}/api/me", headers=headers).status_code == 200

    kid = json.loads(b64url_decode(access.split(".")[0]))["kid"]
    listed = _cli(data_dir, "keys", "list")
    assert kid[:8] in listed.stdout
    revoked = _cli(data_dir, "keys", "revoke", kid)
    assert revoked.returncode == 0, revoked.stderr[-500:]
    started = time.monotonic()
    while httpx.get(f"{base}/api/me", headers=headers).status_code == 200:
        assert time.monotonic() - started < 3, "key revocation did not reach the server in 3 s"
        time.sleep(0.05)
    assert httpx.get(f"{base}/api/me", headers=headers).status_code == 401

    # A fresh login signs with the promoted key and works.
    again = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": "tokenveil-demo",
        },
    ).json()["access_token"]
    assert json.loads(b64url_decode(again.split(".")[0]))["kid"] != kid
    assert httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {again}"}).is_success

    proc.terminate()
    output, _ = proc.communicate(timeout=10)
    assert PASSWORD not in output
    assert access not in output
    assert access.split(".")[1] not in output


def test_cli_errors_are_one_clean_line(tmp_path: Path) -> None:
    """A CLI error exits 2 with one line and no traceback."""
    answer = _cli(tmp_path, "keys", "revoke", "no-such-kid")
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr + answer.stdout
    assert "error" in answer.stderr.lower()


def test_password_is_refused_when_too_short(tmp_path: Path) -> None:
    """users add refuses a short password without a traceback and changes nothing."""
    answer = _cli(tmp_path, "users", "add", "bob", "--password-stdin", stdin="short\n")
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr
    listed = _cli(tmp_path, "users", "list")
    assert "bob" not in listed.stdout
