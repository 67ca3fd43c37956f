"""Shared material for the DPoP specifications: keys, and a forge for hand-made proofs."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from hashlib import sha256

import pytest

from tokenveil.keys import PrivateKey, generate_private_key
from tokenveil.keys._b64 import b64url_encode

NOW = 1_800_000_000.0
HTU = "https://api.example.com/orders"


@pytest.fixture(scope="session")
def es256_key() -> PrivateKey:
    return generate_private_key("ES256")


@pytest.fixture(scope="session")
def other_key() -> PrivateKey:
    return generate_private_key("ES256")


def public_jwk(key: PrivateKey) -> dict[str, str]:
    return {k: v for k, v in key.public.to_jwk().items() if k not in ("kid", "alg", "use")}


def forge(
    header: Mapping[str, object],
    claims: Mapping[str, object],
    *,
    signer: PrivateKey | None = None,
    hmac_secret: bytes | None = None,
) -> str:
    """A compact JWS made by hand, so attacks can set any header and any signature."""
    head = b64url_encode(json.dumps(header).encode())
    body = b64url_encode(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    if signer is not None:
        sig = signer.sign(signing_input)
    elif hmac_secret is not None:
        sig = hmac.new(hmac_secret, signing_input, sha256).digest()
    else:
        sig = b""
    return f"{head}.{body}.{b64url_encode(sig)}"
