"""Key ring lifecycle: next → active → retiring → removed; revocable; encrypted at rest."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.tokens._helpers import Clock, claims_for, sign, verifier_for
from tokenveil.errors import ConfigurationError, KeyRingError, RevokedToken, UnknownKey
from tokenveil.keys import (
    ASYMMETRIC_ALGORITHMS,
    KeyEncryptor,
    KeyRing,
    generate_private_key,
    jwk_thumbprint,
    public_key_from_jwk,
)
from tokenveil.store import MemoryStore

DAY = 24 * 3600


def _ring(store: MemoryStore, clock: Clock, alg: str = "ES256") -> KeyRing:
    return KeyRing(
        store,
        KeyEncryptor(bytes(32)),
        alg=alg,
        rotation_period=30 * DAY,
        max_token_lifetime=630,
        clock=clock,
    )


def _states(ring: KeyRing) -> list[str]:
    return [k.state for k in ring.list_keys()]


async def test_first_run_creates_active_and_prepublished_next() -> None:
    """A new ring has one active key and one next key, both published in the JWKS."""
    ring = _ring(MemoryStore(), Clock())
    await ring.ensure()
    assert sorted(_states(ring)) == ["active", "next"]
    assert len(ring.jwks()["keys"]) == 2


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGORITHMS)
async def test_every_algorithm_signs_and_verifies(alg: str) -> None:
    """ES256, RS256, PS256 and EdDSA keys sign tokens their public half verifies."""
    clock = Clock()
    ring = _ring(MemoryStore(), clock, alg)
    await ring.ensure()
    token = sign(ring.signing_key(), claims_for(clock, iss="https://issuer.test"))
    assert verifier_for(ring, clock).verify(token).kid == ring.signing_key().kid


async def test_kid_is_rfc7638_thumbprint() -> None:
    """The kid of a generated key is the RFC 7638 thumbprint of its public JWK."""
    key = generate_private_key("EdDSA")
    assert key.kid == jwk_thumbprint(key.public.to_jwk())


def test_rfc7638_test_vector() -> None:
    """RFC 7638 §3.1 example key gives the published thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
            "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
            "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnq"
            "DKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_rotation_walks_the_lifecycle() -> None:
    """rotate: next becomes active, active becomes retiring, and a new next is published."""
    clock = Clock()
    ring = _ring(MemoryStore(), clock)
    await ring.ensure()
    first = ring.signing_key().kid
    prepublished = next(k.kid for k in ring.list_keys() if k.state == "next")
    clock.advance(60)
    new_active = await ring.rotate()
    assert new_active == prepublished
    states = {k.kid: k.state for k in ring.list_keys()}
    assert states[first] == "retiring"
    assert sorted(states.values()) == ["active", "next", "retiring"]


async def test_retiring_key_verifies_until_its_tokens_expired_then_is_removed() -> None:
    """A retiring key keeps verifying old tokens, and is dropped once they all expired."""
    clock = Clock()
    ring = _ring(MemoryStore(), clock)
    await ring.ensure()
    verifier = verifier_for(ring, clock)
    old_token = sign(ring.signing_key(), claims_for(clock))
    old_kid = ring.signing_key().kid
    await ring.rotate()
    assert verifier.verify(old_token).kid == old_kid
    clock.advance(631)
    await ring.maybe_rotate()
    assert old_kid not in {k.kid for k in ring.list_keys()}
    assert ring.public_key(old_kid) is None


async def test_scheduled_rotation_after_the_period_only() -> None:
    """maybe_rotate does nothing before the rotation period and rotates once it has passed."""
    clock = Clock()
    ring = _ring(MemoryStore(), clock)
    await ring.ensure()
    kid = ring.signing_key().kid
    clock.advance(29 * DAY)
    assert await ring.maybe_rotate() is False
    assert ring.signing_key().kid == kid
    clock.advance(1 * DAY)
    assert await ring.maybe_rotate() is True
    assert ring.signing_key().kid != kid


async def test_revoking_active_key_promotes_next_at_once() -> None:
    """Revoking the active key: its tokens die now, and signing continues with the next key."""
    clock = Clock()
    ring = _ring(MemoryStore(), clock)
    await ring.ensure()
    verifier = verifier_for(ring, clock)
    old = ring.signing_key().kid
    token = sign(ring.signing_key(), claims_for(clock))
    await ring.revoke(old)
    with pytest.raises(RevokedToken):
        verifier.verify(token)
    assert ring.signing_key().kid != old
    assert old not in {k["kid"] for k in ring.jwks()["keys"]}
    assert sorted(_states(ring)) == ["active", "next", "revoked"]


async def test_revoking_unknown_key_is_an_error() -> None:
    """Revoking a kid that does not exist says so."""
    ring = _ring(MemoryStore(), Clock())
    await ring.ensure()
    with pytest.raises(UnknownKey):
        await ring.revoke("no-such-kid")


async def test_private_keys_are_encrypted_at_rest() -> None:
    """Invariant 5: the stored blob is not the PKCS#8 key and only the KEK decrypts it."""
    store = MemoryStore()
    ring = _ring(store, Clock())
    await ring.ensure()
    active = ring.signing_key()
    stored = next(k for k in await store.list_keys() if k.kid == active.kid)
    assert active.private_bytes() not in stored.private_blob
    assert "private_blob" not in repr(stored)
    with pytest.raises(KeyRingError):
        KeyEncryptor(b"\x01" * 32).decrypt(stored.private_blob, kid=active.kid)
    with pytest.raises(KeyRingError):
        KeyEncryptor(bytes(32)).decrypt(stored.private_blob, kid="another-kid")


async def test_state_survives_a_restart() -> None:
    """A second ring on the same store signs with the same active key (restart)."""
    store, clock = MemoryStore(), Clock()
    first = _ring(store, clock)
    await first.ensure()
    second = _ring(store, clock)
    await second.ensure()
    assert second.signing_key().kid == first.signing_key().kid


def test_jwks_has_no_private_members() -> None:
    """The published JWK of every algorithm carries public members only."""
    for alg in ASYMMETRIC_ALGORITHMS:
        jwk = generate_private_key(alg).public.to_jwk()
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
        assert public_key_from_jwk(jwk).kid == jwk["kid"]


def test_public_jwk_with_private_member_refused() -> None:
    """A JWKS entry carrying a private member is refused (it should never be published)."""
    jwk = generate_private_key("ES256").public.to_jwk() | {"d": "AAAA"}
    with pytest.raises(ValueError, match="private"):
        public_key_from_jwk(jwk)


def test_kek_file_created_0600_and_reused(tmp_path: Path) -> None:
    """The key-encryption key file is created with mode 0600 and read back on the next start."""
    path = tmp_path / "data" / "kek.key"
    first = KeyEncryptor.from_settings(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = first.encrypt(b"secret material", kid="k")
    assert KeyEncryptor.from_settings(None, path).decrypt(blob, kid="k") == b"secret material"
    assert "kek" not in repr(first).replace("kek=<hidden>", "")


def test_kek_file_readable_by_others_refused(tmp_path: Path) -> None:
    """A KEK file others can read is refused rather than silently used."""
    path = tmp_path / "kek.key"
    KeyEncryptor.from_settings(None, path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError):
        KeyEncryptor.from_settings(None, path)


def test_empty_kek_file_from_a_crash_is_refused_not_used(tmp_path: Path) -> None:
    """A truncated key file is reported as invalid; it is never taken as a key."""
    path = tmp_path / "kek.key"
    path.write_text("")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError):
        KeyEncryptor.from_settings(None, path)


def test_kek_creation_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The key file is written atomically (temporary file, fsync, link) and nothing else stays."""
    KeyEncryptor.from_settings(None, tmp_path / "kek.key")
    assert [p.name for p in tmp_path.iterdir()] == ["kek.key"]
