"""A resource server verifying with only the issuer's JWKS URL (fetch, cache, refetch, drop)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.tokens._helpers import AUDIENCE, ISSUER, Clock, claims_for, make_ring, sign
from tokenveil.errors import ConfigurationError, RevokedToken, StoreUnavailable
from tokenveil.keys import KeyRing, generate_private_key
from tokenveil.tokens import JWKSKeys, RemoteVerifier, UnknownSigningKey

URL = "https://issuer.test/.well-known/jwks.json"


class Issuer:
    """Serves the ring's JWKS through httpx.MockTransport and counts fetches."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, content=json.dumps(self.ring.jwks()))


async def _setup(clock: Clock) -> tuple[KeyRing, Issuer, RemoteVerifier]:
    ring = await make_ring(clock)
    issuer = Issuer(ring)
    client = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler))
    keys = JWKSKeys(URL, client, max_age=300, min_refetch_interval=30, clock=clock)
    return ring, issuer, RemoteVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)


async def test_verifies_with_fetched_keys_and_caches_them() -> None:
    """The first token triggers one fetch; further tokens use the cache."""
    clock = Clock()
    ring, issuer, verifier = await _setup(clock)
    token = sign(ring.signing_key(), claims_for(clock))
    assert (await verifier.verify_async(token)).sub == "usr_opaque123"
    await verifier.verify_async(sign(ring.signing_key(), claims_for(clock, jti="j2")))
    assert issuer.fetches == 1


async def test_prepublished_next_key_needs_no_refetch_after_rotation() -> None:
    """The next key is in the JWKS before it signs, so a rotation costs resource servers nothing."""
    clock = Clock()
    ring, issuer, verifier = await _setup(clock)
    await verifier.verify_async(sign(ring.signing_key(), claims_for(clock)))
    await ring.rotate()
    fresh = sign(ring.signing_key(), claims_for(clock, jti="after-rotation"))
    assert (await verifier.verify_async(fresh)).jti == "after-rotation"
    assert issuer.fetches == 1


async def test_unknown_kid_refetches_once_then_rate_limits() -> None:
    """A kid newer than the cache refetches the JWKS; forged kids cannot make it refetch again."""
    clock = Clock()
    ring, issuer, verifier = await _setup(clock)
    await verifier.verify_async(sign(ring.signing_key(), claims_for(clock)))
    await ring.rotate()
    await ring.rotate()  # the active key was published after the cache was filled
    clock.advance(31)
    fresh = sign(ring.signing_key(), claims_for(clock, jti="two-rotations-later"))
    assert (await verifier.verify_async(fresh)).jti == "two-rotations-later"
    assert issuer.fetches == 2
    forged = sign(generate_private_key("ES256"), claims_for(clock, jti="forged"))
    for _ in range(5):
        with pytest.raises(UnknownSigningKey):
            await verifier.verify_async(forged)
    assert issuer.fetches == 2


async def test_key_revoked_at_issuer_disappears_from_cache() -> None:
    """After the issuer revokes a key, the next fetch drops it and its tokens are refused."""
    clock = Clock()
    ring, _, verifier = await _setup(clock)
    old = ring.signing_key()
    token = sign(old, claims_for(clock))
    await verifier.verify_async(token)
    await ring.revoke(old.kid)
    clock.advance(301)  # the cached JWKS is now stale and is refetched
    with pytest.raises(RevokedToken):
        await verifier.verify_async(sign(old, claims_for(clock, jti="new-token-old-key")))


async def test_issuer_unreachable_fails_closed() -> None:
    """Without the issuer's keys nothing new verifies: StoreUnavailable, not a crash."""
    clock = Clock()
    ring, issuer, verifier = await _setup(clock)
    issuer.down = True
    with pytest.raises(StoreUnavailable):
        await verifier.verify_async(sign(ring.signing_key(), claims_for(clock)))


async def test_failed_fetch_backs_off_instead_of_refetching_per_request() -> None:
    """An issuer outage does not turn every request (or forged kid) into a new fetch."""
    clock = Clock()
    ring, issuer, verifier = await _setup(clock)
    await verifier.verify_async(sign(ring.signing_key(), claims_for(clock)))
    issuer.down = True
    clock.advance(301)
    forged = sign(generate_private_key("ES256"), claims_for(clock, jti="forged"))
    for _ in range(20):
        with pytest.raises(UnknownSigningKey):
            await verifier.verify_async(forged)
    assert issuer.fetches == 2
    # Known keys keep working during the outage (up to the hard staleness limit).
    assert (await verifier.verify_async(sign(ring.signing_key(), claims_for(clock)))).sub


async def test_oversized_jwks_refused_while_streaming() -> None:
    """A JWKS body over 256 KiB is refused, without trusting Content-Length."""
    clock = Clock()
    huge = httpx.Response(200, content=b'{"keys": [' + b" " * 300_000 + b"]}")
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: huge))
    keys = JWKSKeys(URL, client, clock=clock)
    with pytest.raises(StoreUnavailable):
        await keys.refresh(force=True)


@pytest.mark.parametrize("url", ["http://issuer.test/jwks.json", "ftp://issuer.test/jwks"])
def test_plain_http_jwks_url_refused_off_loopback(url: str) -> None:
    """Keys fetched over plain HTTP could be swapped in transit: https only, except loopback."""
    with pytest.raises(ConfigurationError):
        JWKSKeys(url, httpx.AsyncClient())
    JWKSKeys("http://127.0.0.1:8000/.well-known/jwks.json", httpx.AsyncClient())
