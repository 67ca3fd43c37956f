"""The scanner's loopback key server: serves fixed documents, records every fetch."""

from __future__ import annotations

import datetime

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tokenveil.scan._callback import CallbackServer, self_signed_pem


async def test_key_server_serves_documents_and_records_hits() -> None:
    """Known paths answer 200 with their document, others 404; every path is recorded."""
    server = CallbackServer({"/jwks.json": ("application/json", b'{"keys": []}')})
    base = await server.start()
    try:
        assert base.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            ok = await client.get(f"{base}/jwks.json?x=1")
            missing = await client.get(f"{base}/other")
    finally:
        await server.close()
    assert ok.status_code == 200
    assert ok.json() == {"keys": []}
    assert missing.status_code == 404
    assert server.hits == ["/jwks.json", "/other"]


def test_self_signed_certificate_carries_the_attacker_key() -> None:
    """x5u serves a certificate whose public key is the key that signed the forged token."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = x509.load_pem_x509_certificate(self_signed_pem(key, now))
    assert cert.public_key() == key.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > datetime.timedelta(hours=23)
