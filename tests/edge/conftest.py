"""Shared fixtures for the edge tests: canary tokens built at run time, logging state restored."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Iterator

import pytest

from tokenveil import logs


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt() -> str:
    """A JWT-shaped canary: unique, never printed, never valid anywhere."""
    header = _b64(json.dumps({"alg": "ES256", "typ": "at+jwt"}).encode())
    payload = _b64(json.dumps({"sub": "u1", "jti": secrets.token_hex(8)}).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(64))}"


@pytest.fixture
def jwt_canary() -> str:
    return make_jwt()


@pytest.fixture
def opaque_canary() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    """Each test starts without process-wide redaction (another suite's create_app may have
    installed it) and leaves none behind."""
    logs.uninstall()
    factory = logging.getLogRecordFactory()
    yield
    logs.uninstall()
    logging.setLogRecordFactory(factory)
