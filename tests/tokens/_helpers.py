"""Shared builders for token tests: a key ring on the in-memory store and a forging helper."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tokenveil.keys import KeyEncryptor, KeyRing
from tokenveil.keys._b64 import b64url_encode
from tokenveil.store import MemoryStore
from tokenveil.tokens import AccessTokenVerifier, RevocationView
from tokenveil.tokens._jws import Signer, encode_compact

ISSUER = "https://issuer.test"
AUDIENCE = "api.test"


class Clock:
    """A settable clock, injected wherever time matters."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def make_ring(clock: Clock, alg: str = "ES256") -> KeyRing:
    ring = KeyRing(
        MemoryStore(),
        KeyEncryptor(bytes(range(32))),
        alg=alg,
        rotation_period=30 * 24 * 3600,
        max_token_lifetime=600 + 30,
        clock=clock,
    )
    await ring.ensure()
    return ring


def claims_for(clock: Clock, **overrides: Any) -> dict[str, Any]:
    now = int(clock())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "usr_opaque123",
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "jti": "jti-1",
        "client_id": "client-1",
        "scope": "orders profile",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: Signer, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
    base = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    if header is not None:
        base.update(header)
    return encode_compact({k: v for k, v in base.items() if v is not None}, claims, key)


def raw_token(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes) -> str:
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url_encode(signature)}"


def verifier_for(
    ring: KeyRing, clock: Clock, revocations: RevocationView | None = None
) -> AccessTokenVerifier:
    return AccessTokenVerifier(
        ring, issuer=ISSUER, audience=AUDIENCE, leeway=30, revocations=revocations, clock=clock
    )
