"""Real ``tokenveil serve`` processes on loopback, for benchmarks and end-to-end tests.

One place starts the server the way a user would (``python -m tokenveil serve``), waits until it
answers, keeps its output in a file (a pipe nobody reads would fill and block it) and stops it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVE = (sys.executable, "-m", "tokenveil", "serve", "--host", "127.0.0.1")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``TOKENVEIL_`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENVEIL_")}
    env.update(extra or {})
    return env


def cli(data_dir: Path, env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``tokenveil ARGS --data-dir DIR``; returns stdout, raises with stderr's tail."""
    done = subprocess.run(
        [sys.executable, "-m", "tokenveil", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tokenveil {args[0]} failed: {done.stderr[-400:]}")
    return done.stdout


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    #: The process's stdout and stderr.
    log: Path

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        """Terminate and wait (kill after 10 s); harmless when already stopped."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def serving(
    data_dir: Path, env: Mapping[str, str], count: int = 1, *, timeout: float = 30.0
) -> Iterator[list[Server]]:
    """``count`` ``tokenveil serve`` processes on loopback sharing ``env``; stopped on exit.

    Several instances share one issuer (``TOKENVEIL_ISSUER``, the load balancer's URL); set it
    in ``env`` yourself, or the first instance's URL is used.
    """
    ports = [free_port() for _ in range(count)]
    env = dict(env)
    env.setdefault("TOKENVEIL_ISSUER", f"http://127.0.0.1:{ports[0]}")
    servers: list[Server] = []
    try:
        for port in ports:
            log = data_dir.parent / f"serve-{port}.log"
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    [*SERVE, "--port", str(port), "--data-dir", str(data_dir)],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            servers.append(Server(f"http://127.0.0.1:{port}", proc, log))
            _wait_up(servers[-1], timeout)
        yield servers
    finally:
        for server in servers:
            server.proc.terminate()
        for server in servers:
            server.stop()


def _wait_up(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"tokenveil serve exited: {server.output()[-600:]}")
        try:
            if httpx.get(f"{server.base}/.well-known/jwks.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"tokenveil serve did not start within {timeout} s")
