"""Fixtures for the scanner tests: the vulnerable app served by uvicorn on 127.0.0.1.

The scanner only ever targets servers these fixtures started on loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import free_port, run_in_fresh_loop
from tests.scan.vulnapp import app
from tokenveil.scan import Scanner, ScanOptions, ScanResult


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        # Runs in a worker thread: signals belong to pytest's main thread.
        pass


def _serve(asgi_app: FastAPI) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        asgi_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def vulnapp_url() -> Iterator[str]:
    """Base URL of the deliberately vulnerable app, served for the whole test session."""
    yield from _serve(app)


clean_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@clean_app.get("/health")
def _health() -> dict[str, str]:
    return {"status": "ok"}


@pytest.fixture(scope="session")
def clean_url() -> Iterator[str]:
    """A minimal app with nothing to report: a health route and no debug surface."""
    yield from _serve(clean_app)


@pytest.fixture(scope="session")
def vulnapp_result(vulnapp_url: str) -> ScanResult:
    """One full scan of the vulnerable app (both users), shared by the tests that read it."""
    options = ScanOptions(
        url=vulnapp_url,
        login_url=f"{vulnapp_url}/token",
        username="alice",
        password="alice-pass",
        second_username="bob",
        second_password="bob-pass",
        rate=0,
        max_requests=1000,
    )
    return run_in_fresh_loop(lambda: Scanner(options).run())
