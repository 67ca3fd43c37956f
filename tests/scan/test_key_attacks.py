"""Key-handling attacks proven against real (deliberately broken) verifiers, in process.

The app runs behind httpx's ASGI transport: no socket is opened, nothing leaves the process.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import run_in_fresh_loop
from tests.scan import vulnkeys
from tokenveil.scan import Scanner, ScanOptions, ScanResult


async def _scan() -> ScanResult:
    transport = httpx.ASGITransport(app=vulnkeys.app)
    async with httpx.AsyncClient(transport=transport) as client:
        options = ScanOptions(url="http://127.0.0.1:1", token=vulnkeys.issue(), rate=0)
        return await Scanner(options, client=client).run()


@pytest.fixture(scope="module")
def key_scan() -> ScanResult:
    """One scan of vulnkeys with an honest RS256 token, through an injected ASGI client."""
    return run_in_fresh_loop(_scan)


@pytest.mark.parametrize(
    ("finding_id", "endpoint"),
    [
        ("TV-VAL-003", "GET /confused"),
        ("TV-VAL-004", "GET /jwk"),
        ("TV-VAL-006", "GET /kid"),
        ("TV-VAL-011", "GET /ecdsa"),
        ("TV-VAL-005", "GET /jku"),
    ],
)
def test_key_attack_is_found_on_its_route_only(
    key_scan: ScanResult, finding_id: str, endpoint: str
) -> None:
    """Each planted key bug yields its finding on exactly the route that has it."""
    assert {f.endpoint for f in key_scan.findings if f.id == finding_id} == {endpoint}


def test_the_sound_route_and_sound_token_raise_no_validation_finding(key_scan: ScanResult) -> None:
    """/me verifies RS256 properly and the honest token is clean: no TV-VAL or TV-JWT there."""
    assert not [
        f for f in key_scan.findings if f.endpoint == "GET /me" and f.id.startswith("TV-VAL")
    ]
    assert not [f for f in key_scan.findings if f.id.startswith("TV-JWT")]
    assert not [f for f in key_scan.findings if f.id in ("TV-VAL-001", "TV-VAL-002")]


def test_fetching_the_scanners_key_server_is_reported_as_ssrf(key_scan: ScanResult) -> None:
    """/jku fetched both the JWKS and the certificate from the scanner's loopback key server."""
    (f,) = [x for x in key_scan.findings if x.id == "TV-VAL-012"]
    assert "/cert.pem" in f.evidence[0]
    assert "/jwks.json" in f.evidence[0]
    assert f.cwe == 918
    assert f.owasp.startswith("API7:2023")
