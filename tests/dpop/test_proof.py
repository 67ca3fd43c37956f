"""``verify_proof`` accepts every well-made proof, and ``check_binding`` ties tokens to keys."""

from __future__ import annotations

import pytest

from tokenveil.dpop import (
    DPoPBindingMismatch,
    DPoPProof,
    InMemoryReplayCache,
    NonceManager,
    UseDPoPNonce,
    check_binding,
    create_proof,
    jwk_thumbprint,
    verify_proof,
)
from tokenveil.errors import DPoPError, StoreUnavailable
from tokenveil.keys import PrivateKey, generate_private_key

from .conftest import HTU, NOW, public_jwk


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
async def test_valid_proof_is_accepted_for_every_allowed_algorithm(alg: str) -> None:
    """A proof signed with ES256, EdDSA, RS256 or PS256 verifies and names its key's jkt."""
    key = generate_private_key(alg)
    proof = create_proof(key, htm="POST", htu=HTU, now=NOW, jti="j-1")
    result = await verify_proof(
        proof,
        htm="POST",
        htu=HTU,
        now=NOW,
        access_token=None,
        nonce=None,
        replay=InMemoryReplayCache(),
    )
    assert result == DPoPProof(jkt=jwk_thumbprint(public_jwk(key)), jti="j-1", iat=NOW)
    assert result.jkt == key.kid


async def test_htu_query_and_fragment_of_the_request_are_ignored(es256_key: PrivateKey) -> None:
    """The request URI's query and fragment play no part in the htu match (§4.3 check 9)."""
    proof = create_proof(es256_key, htm="GET", htu=HTU, now=NOW)
    result = await verify_proof(
        proof,
        htm="GET",
        htu="https://API.Example.com:443/orders?page=2#frag",
        now=NOW,
        access_token=None,
        nonce=None,
        replay=InMemoryReplayCache(),
    )
    assert result.jkt == es256_key.kid


async def test_proof_with_matching_ath_is_accepted(es256_key: PrivateKey) -> None:
    """A proof hashed over the presented access token is accepted with that token."""
    proof = create_proof(es256_key, htm="GET", htu=HTU, now=NOW, access_token="tok.en.value")
    result = await verify_proof(
        proof,
        htm="GET",
        htu=HTU,
        now=NOW,
        access_token="tok.en.value",
        nonce=None,
        replay=InMemoryReplayCache(),
    )
    assert result.jkt == es256_key.kid


async def test_iat_within_max_age_and_leeway_is_accepted(es256_key: PrivateKey) -> None:
    """A proof 60 s old, or 5 s ahead of the server clock, is still accepted."""
    cache = InMemoryReplayCache()
    for iat in (NOW - 60, NOW + 5):
        proof = create_proof(es256_key, htm="GET", htu=HTU, now=iat)
        result = await verify_proof(
            proof, htm="GET", htu=HTU, now=NOW, access_token=None, nonce=None, replay=cache
        )
        assert result.iat == int(iat)


async def test_current_manager_nonce_is_accepted_and_a_missing_one_is_asked_for(
    es256_key: PrivateKey,
) -> None:
    """With a NonceManager, a proof without nonce gets use_dpop_nonce and the retry passes."""
    manager = NonceManager(b"k" * 32, period=300)
    cache = InMemoryReplayCache()
    first = create_proof(es256_key, htm="GET", htu=HTU, now=NOW)
    with pytest.raises(UseDPoPNonce) as caught:
        await verify_proof(
            first, htm="GET", htu=HTU, now=NOW, access_token=None, nonce=manager, replay=cache
        )
    assert caught.value.code == "use_dpop_nonce"
    assert caught.value.nonce == manager.issue(NOW)
    retry = create_proof(es256_key, htm="GET", htu=HTU, now=NOW, nonce=caught.value.nonce)
    result = await verify_proof(
        retry, htm="GET", htu=HTU, now=NOW, access_token=None, nonce=manager, replay=cache
    )
    assert result.jkt == es256_key.kid


async def test_exact_expected_nonce_string_is_accepted(es256_key: PrivateKey) -> None:
    """A plain string nonce is compared exactly."""
    proof = create_proof(es256_key, htm="GET", htu=HTU, now=NOW, nonce="n-42")
    result = await verify_proof(
        proof,
        htm="GET",
        htu=HTU,
        now=NOW,
        access_token=None,
        nonce="n-42",
        replay=InMemoryReplayCache(),
    )
    assert result.jti


async def test_unavailable_replay_store_fails_closed(es256_key: PrivateKey) -> None:
    """When the replay cache cannot answer, the proof is refused with StoreUnavailable."""

    class DownCache:
        async def first_use(self, key: str, *, now: float, ttl: float) -> bool:
            raise StoreUnavailable("down")

    proof = create_proof(es256_key, htm="GET", htu=HTU, now=NOW)
    with pytest.raises(StoreUnavailable):
        await verify_proof(
            proof, htm="GET", htu=HTU, now=NOW, access_token=None, nonce=None, replay=DownCache()
        )


def test_check_binding_accepts_the_bound_key() -> None:
    """A token bound to jkt X passes with a proof whose jkt is X; an unbound token passes."""
    proof = DPoPProof(jkt="X", jti="j", iat=NOW)
    check_binding("X", proof)
    check_binding(None, proof)
    check_binding(None, None)


async def test_errors_never_echo_the_proof_the_token_or_claims(es256_key: PrivateKey) -> None:
    """Refusals name a reason only: no proof, token, jti or URI in str or repr (CWE-209)."""
    token = "secret-access-token-value"
    proof = create_proof(es256_key, htm="GET", htu=HTU, now=NOW, jti="jti-secret-1", nonce="n")
    failures: list[dict[str, object]] = [
        {"access_token": token},  # ath missing
        {"access_token": None, "htm": "POST"},
        {"access_token": None, "nonce": "other"},
    ]
    for overrides in failures:
        args: dict[str, object] = {"htm": "GET", "nonce": None, **overrides}
        with pytest.raises(DPoPError) as caught:
            await verify_proof(
                proof,
                htu=HTU,
                now=NOW,
                replay=InMemoryReplayCache(),
                **args,  # type: ignore[arg-type]
            )
        text = str(caught.value) + repr(caught.value)
        for secret in (proof, token, "jti-secret-1", "api.example.com", es256_key.kid):
            assert secret not in text
    assert DPoPBindingMismatch().code == "invalid_token"


class TestNonceManager:
    def test_nonce_lives_one_to_two_periods(self) -> None:
        """A nonce is valid in its period and the next, and refused after that."""
        manager = NonceManager(b"s" * 32, period=100)
        nonce = manager.issue(1000.0)
        assert manager.is_valid(nonce, 1099.0)
        assert manager.is_valid(nonce, 1199.0)
        assert not manager.is_valid(nonce, 1200.0)
        assert not manager.is_valid(nonce, 999.0)

    def test_nonce_from_another_key_or_garbage_is_refused(self) -> None:
        """Nonces are authenticated: another key's nonce, or junk, never validates."""
        mine, theirs = NonceManager(b"a" * 32), NonceManager(b"b" * 32)
        assert not mine.is_valid(theirs.issue(NOW), NOW)
        assert not mine.is_valid("!!not-base64!!", NOW)
        assert not mine.is_valid("", NOW)
        assert not mine.is_valid("é", NOW)

    def test_instances_sharing_a_key_accept_each_others_nonces(self) -> None:
        """Stateless: two instances with one key need no shared storage."""
        assert NonceManager(b"z" * 32).is_valid(NonceManager(b"z" * 32).issue(NOW), NOW)

    def test_short_key_is_refused_and_repr_hides_the_key(self) -> None:
        """Keys under 32 bytes are refused; the repr never shows the key."""
        with pytest.raises(ValueError, match="32 bytes"):
            NonceManager(b"short")
        assert "zzzz" not in repr(NonceManager(b"z" * 32))


class TestInMemoryReplayCache:
    async def test_second_use_within_ttl_is_refused_and_allowed_after(self) -> None:
        """A key is refused while remembered and accepted again once its TTL has passed."""
        cache = InMemoryReplayCache()
        assert await cache.first_use("a", now=0.0, ttl=10.0)
        assert not await cache.first_use("a", now=9.0, ttl=10.0)
        assert await cache.first_use("a", now=10.5, ttl=10.0)

    async def test_expired_entries_are_purged(self) -> None:
        """Memory stays bounded: entries past their TTL are dropped."""
        cache = InMemoryReplayCache()
        for i in range(100):
            await cache.first_use(str(i), now=float(i), ttl=5.0)
        assert len(cache) <= 6

    async def test_full_cache_fails_closed(self) -> None:
        """When full of live entries the cache refuses rather than forget a jti early."""
        cache = InMemoryReplayCache(max_entries=2)
        await cache.first_use("a", now=0.0, ttl=60.0)
        await cache.first_use("b", now=0.0, ttl=60.0)
        with pytest.raises(StoreUnavailable):
            await cache.first_use("c", now=1.0, ttl=60.0)
        assert not await cache.first_use("a", now=1.0, ttl=60.0)
