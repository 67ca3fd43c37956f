"""One test per known attack on access-token verification (RFC 8725, public advisories).

Each forged or unacceptable token must be refused with its specific reason, never accepted.
"""

from __future__ import annotations

import hmac
import json
from hashlib import sha256

import pytest
from cryptography.hazmat.primitives import serialization

from tests.tokens._helpers import (
    AUDIENCE,
    Clock,
    claims_for,
    make_ring,
    raw_token,
    sign,
    verifier_for,
)
from tokenveil.errors import (
    BadSignature,
    ClaimMismatch,
    ExpiredToken,
    ForbiddenHeader,
    MalformedToken,
    RevokedToken,
    StoreUnavailable,
    TokenNotYetValid,
)
from tokenveil.keys import KeyRing, PrivateKey, generate_private_key
from tokenveil.keys._b64 import b64url_encode
from tokenveil.tokens import AccessTokenVerifier, RevocationView, UnknownSigningKey


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def ring(clock: Clock) -> KeyRing:
    return await make_ring(clock)


@pytest.fixture
def verifier(ring: KeyRing, clock: Clock) -> AccessTokenVerifier:
    return verifier_for(ring, clock)


def _active(ring: KeyRing) -> PrivateKey:
    return ring.signing_key()


def test_valid_token_gives_principal(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """A well-formed token signed by the active key verifies into a Principal."""
    principal = verifier.verify(sign(_active(ring), claims_for(clock)))
    assert principal.sub == "usr_opaque123"
    assert principal.scopes == frozenset({"orders", "profile"})
    assert principal.kid == _active(ring).kid


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, alg: str
) -> None:
    """CVE-2015-9235 family: an unsigned token with alg none in any case is refused."""
    token = raw_token(
        {"alg": alg, "typ": "at+jwt", "kid": _active(ring).kid}, claims_for(clock), b""
    )
    with pytest.raises(ForbiddenHeader):
        verifier.verify(token)


def test_hs256_signed_with_public_key_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """HS/RS key confusion: HMAC keyed with the published public key must not verify."""
    public_pem = _active(ring).public.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": _active(ring).kid}
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims_for(clock)).encode())
    mac = hmac.new(public_pem, f"{h}.{p}".encode(), sha256).digest()
    with pytest.raises(ForbiddenHeader) as info:
        verifier.verify(f"{h}.{p}.{b64url_encode(mac)}")
    assert info.value.reason == "alg_mismatch"


def test_embedded_jwk_refused(ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock) -> None:
    """CVE-2018-0114: a token carrying its own key in a jwk header is refused."""
    attacker = generate_private_key("ES256")
    token = sign(
        attacker,
        claims_for(clock),
        {"kid": _active(ring).kid, "jwk": attacker.public.to_jwk()},
    )
    with pytest.raises(ForbiddenHeader):
        verifier.verify(token)


@pytest.mark.parametrize("name", ["jku", "x5u", "x5c"])
def test_key_location_headers_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, name: str
) -> None:
    """RFC 8725 §3.10: keys fetched from where the token says are never honoured."""
    value: object = ["MIIB"] if name == "x5c" else "https://attacker.invalid/keys"
    token = sign(_active(ring), claims_for(clock), {name: value})
    with pytest.raises(ForbiddenHeader):
        verifier.verify(token)


def test_unknown_crit_refused(ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock) -> None:
    """RFC 7515 §4.1.11: a crit extension we do not understand makes the token invalid."""
    token = sign(_active(ring), claims_for(clock), {"crit": ["exp-ext"], "exp-ext": 1})
    with pytest.raises(ForbiddenHeader):
        verifier.verify(token)


@pytest.mark.parametrize("typ", [None, "JWT", "refresh+jwt", "id_token+jwt", "dpop+jwt"])
def test_wrong_typ_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, typ: str | None
) -> None:
    """RFC 9068 §4: only at+jwt is an access token (no ID, refresh or DPoP token in its place)."""
    token = sign(_active(ring), claims_for(clock), {"typ": typ})
    with pytest.raises(ClaimMismatch) as info:
        verifier.verify(token)
    assert info.value.claim == "typ"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "https://evil.test"), ("aud", "other-api"), ("aud", None), ("iss", None)],
)
def test_wrong_issuer_or_audience_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, claim: str, value: str | None
) -> None:
    """RFC 8725 §3.8-3.9: a token for another issuer or audience is refused."""
    token = sign(_active(ring), claims_for(clock, **{claim: value}))
    with pytest.raises(ClaimMismatch) as info:
        verifier.verify(token)
    assert info.value.claim == claim


def test_audience_list_containing_ours_accepted(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """RFC 7519 §4.1.3: aud may be an array; ours among them is accepted."""
    token = sign(_active(ring), claims_for(clock, aud=["other", AUDIENCE]))
    assert verifier.verify(token).sub == "usr_opaque123"


def test_expired_refused_after_leeway(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """Expired tokens are refused once the small leeway has passed, and accepted within it."""
    token = sign(_active(ring), claims_for(clock))
    clock.advance(600 + 29)
    assert verifier.verify(token).jti == "jti-1"
    clock.advance(2)
    with pytest.raises(ExpiredToken):
        verifier.verify(token)


def test_expired_refused_even_from_repeat_cache(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """A token verified earlier is not waved through by the cache once it expires."""
    token = sign(_active(ring), claims_for(clock))
    verifier.verify(token)
    clock.advance(3600)
    with pytest.raises(ExpiredToken):
        verifier.verify(token)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, claim: str
) -> None:
    """A token from the future (nbf or iat beyond the leeway) is refused."""
    token = sign(_active(ring), claims_for(clock, **{claim: int(clock()) + 120}))
    with pytest.raises(TokenNotYetValid):
        verifier.verify(token)


@pytest.mark.parametrize("value", [True, "1900000000", None, float("inf")])
def test_exp_must_be_a_number(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, value: object
) -> None:
    """exp is required and must be a NumericDate (not a bool, a string or infinity)."""
    claims = claims_for(clock)
    claims["exp"] = value
    if value is None:
        del claims["exp"]
    token = raw_token(
        {"alg": "ES256", "typ": "at+jwt", "kid": _active(ring).kid}, claims, b""
    ).rsplit(".", 1)[0]
    signature = _active(ring).sign(token.encode())
    with pytest.raises((ClaimMismatch, MalformedToken)):
        verifier.verify(f"{token}.{b64url_encode(signature)}")


def test_tampered_payload_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """Changing one claim after signing breaks the signature."""
    h, _, s = sign(_active(ring), claims_for(clock)).split(".")
    forged = b64url_encode(json.dumps(claims_for(clock, scope="admin")).encode())
    with pytest.raises(BadSignature):
        verifier.verify(f"{h}.{forged}.{s}")


def test_signature_by_other_key_with_our_kid_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """An attacker's key cannot sign for our kid."""
    attacker = generate_private_key("ES256")
    forged = sign(attacker, claims_for(clock), {"kid": _active(ring).kid})
    with pytest.raises(BadSignature):
        verifier.verify(forged)


def test_ecdsa_zero_signature_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify."""
    header = {"alg": "ES256", "typ": "at+jwt", "kid": _active(ring).kid}
    with pytest.raises(BadSignature):
        verifier.verify(raw_token(header, claims_for(clock), bytes(64)))


def test_unknown_kid_refused(ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock) -> None:
    """A kid no key ring knows is refused (and flagged so a JWKS resolver may refetch)."""
    attacker = generate_private_key("ES256")
    with pytest.raises(UnknownSigningKey):
        verifier.verify(sign(attacker, claims_for(clock)))


@pytest.mark.parametrize("kid", ["../../../../dev/null", "' OR '1'='1", ""])
def test_kid_injection_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock, kid: str
) -> None:
    """kid is only ever a dictionary key: path traversal or SQL in it finds nothing."""
    token = raw_token({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims_for(clock), bytes(64))
    with pytest.raises((UnknownSigningKey, MalformedToken)):
        verifier.verify(token)


def test_oversized_token_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """Tokens over 8 KiB are refused before any parsing (resource exhaustion)."""
    token = sign(_active(ring), claims_for(clock, client_id="c" * 9000))
    with pytest.raises(MalformedToken):
        verifier.verify(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "eyJhbGciOiJFUzI1NiJ9.e30",
        b64url_encode(b"[1,2]") + "." + b64url_encode(b"{}") + ".AA",
        b64url_encode(b"{not json") + "." + b64url_encode(b"{}") + ".AA",
        "ëyJ.ëyJ.ëyJ",
    ],
)
def test_malformed_tokens_refused(verifier: AccessTokenVerifier, token: str) -> None:
    """Malformed base64, JSON or structure is refused as malformed, never a crash."""
    with pytest.raises(MalformedToken):
        verifier.verify(token)


def test_revoked_jti_refused_even_when_cached(ring: KeyRing, clock: Clock) -> None:
    """A revoked token is refused at once, including on the repeat-cache path."""
    view = RevocationView()
    verifier = verifier_for(ring, clock, view)
    token = sign(_active(ring), claims_for(clock))
    verifier.verify(token)
    view.jtis.add("jti-1")
    with pytest.raises(RevokedToken):
        verifier.verify(token)


def test_cutoff_refuses_tokens_issued_before_it(ring: KeyRing, clock: Clock) -> None:
    """Kill switch: every token issued before the cut-off is refused."""
    view = RevocationView()
    verifier = verifier_for(ring, clock, view)
    old = sign(_active(ring), claims_for(clock))
    verifier.verify(old)
    clock.advance(5)
    view.cutoff = clock()
    fresh = sign(_active(ring), claims_for(clock, jti="jti-2"))
    with pytest.raises(RevokedToken):
        verifier.verify(old)
    assert verifier.verify(fresh).jti == "jti-2"


async def test_revoked_key_refused_at_once(ring: KeyRing, clock: Clock) -> None:
    """Tokens signed by a revoked key are refused from the instant of revocation."""
    verifier = verifier_for(ring, clock)
    old_kid = _active(ring).kid
    token = sign(_active(ring), claims_for(clock))
    verifier.verify(token)
    await ring.revoke(old_kid)
    with pytest.raises(RevokedToken):
        verifier.verify(token)
    assert _active(ring).kid != old_kid


def test_stale_revocation_view_fails_closed(ring: KeyRing, clock: Clock) -> None:
    """Invariant 9: when the store has not synced in time, verification refuses everything."""
    view = RevocationView(fresh_until=clock() + 5)
    verifier = verifier_for(ring, clock, view)
    token = sign(_active(ring), claims_for(clock))
    verifier.verify(token)
    clock.advance(6)
    with pytest.raises(StoreUnavailable):
        verifier.verify(token)


def test_non_canonical_base64_spelling_refused(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """One token, one spelling: unused trailing bits set in the signature are refused."""
    token = sign(_active(ring), claims_for(clock))
    head, sig = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 64 bytes of ES256 signature → 86 characters, the last one carrying 4 unused bits.
    bumped = alphabet[alphabet.index(sig[-1]) | 1]
    with pytest.raises(MalformedToken):
        verifier.verify(f"{head}.{sig[:-1]}{bumped}")


def test_verified_claims_are_read_only(
    ring: KeyRing, verifier: AccessTokenVerifier, clock: Clock
) -> None:
    """A handler cannot change the claims other requests with the same token will see."""
    principal = verifier.verify(sign(_active(ring), claims_for(clock)))
    with pytest.raises(TypeError):
        principal.claims["scope"] = "admin"  # type: ignore[index]
