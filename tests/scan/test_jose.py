"""Forged tokens are what each attack needs: right header, right key, right shape."""

from __future__ import annotations

import hashlib
import hmac

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.scan._recorded import SECRET, token
from tokenveil.scan._jose import (
    ATTACKER_URL,
    alg_none_variants,
    b64url_decode,
    b64url_encode,
    claim_forgeries,
    decode_unverified,
    ecdsa_zero_signature,
    embedded_jwk,
    guess_hmac_secret,
    jwk_to_pem,
    key_confusion,
    key_url_headers,
    kid_injection,
    load_wordlist,
    resign,
    tampered,
)


def _hs256_valid(tok: str, key: bytes) -> bool:
    signing_input, _, sig = tok.rpartition(".")
    expected = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(expected, b64url_decode(sig))


def test_decode_unverified_refuses_non_jwts() -> None:
    """Opaque strings, two-part strings and non-JSON segments are not JWTs."""
    assert decode_unverified("opaque-refresh-token") is None
    assert decode_unverified("a.b") is None
    assert decode_unverified("a.b.c") is None
    assert decode_unverified(token()) is not None


def test_wordlist_ships_the_classic_tutorial_secrets() -> None:
    """The bundled wordlist holds the secrets copied from tutorials and docs."""
    words = load_wordlist()
    for secret in (b"secret", b"changeme", b"your-secure-secret-or-private-key"):
        assert secret in words
    assert all(not w.startswith(b"#") for w in words)


def test_guess_hmac_secret_finds_a_wordlist_secret_and_nothing_else() -> None:
    """A token signed with 'changeme' is cracked; a random key is not."""
    weak = jwt.encode({"sub": "1"}, "changeme" * 4, algorithm="HS256")
    assert guess_hmac_secret(weak, [b"secret", b"changeme" * 4]) == b"changeme" * 4
    assert guess_hmac_secret(token(), load_wordlist()) is None


def test_alg_none_variants_cover_every_spelling_with_an_empty_signature() -> None:
    """RFC 8725 §2.1: none, None, NONE and nOnE, each unsigned."""
    forged = alg_none_variants(token())
    assert [f.variant for f in forged] == ["none", "None", "NONE", "nOnE"]
    for f in forged:
        assert f.token.endswith(".")
        decoded = decode_unverified(f.token)
        assert decoded is not None
        assert decoded[0]["alg"] == f.variant
        assert decoded[1]["sub"] == "42"


def test_tampered_tokens_no_longer_verify() -> None:
    """Each tampered variant fails an honest HS256 check: acceptance proves no verification."""
    original = token()
    assert _hs256_valid(original, SECRET)
    for f in tampered(original):
        if f.variant == "signature-stripped":
            assert f.token.endswith(".")
        else:
            assert not _hs256_valid(f.token, SECRET)


def test_key_confusion_signs_hs256_with_the_public_key_pem() -> None:
    """RS256→HS256 confusion: the HMAC key is the published PEM, as a naive verifier uses it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "kid": "k1",
        "n": b64url_encode(numbers.n.to_bytes(256, "big")),
        "e": b64url_encode(numbers.e.to_bytes(3, "big")),
    }
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert jwk_to_pem(jwk) == pem
    forged = key_confusion(token(), {"keys": [jwk]})
    assert len(forged) == 2
    header = decode_unverified(forged[0].token)
    assert header is not None
    assert header[0]["alg"] == "HS256"
    assert header[0]["kid"] == "k1"
    assert _hs256_valid(forged[0].token, pem)
    assert _hs256_valid(forged[1].token, pem.strip())


def test_embedded_jwk_is_signed_by_the_key_it_carries() -> None:
    """CVE-2018-0114 class: a verifier trusting the header jwk would accept this token."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    (forged,) = embedded_jwk(token(), attacker)
    header, _ = decode_unverified(forged.token) or ({}, {})
    pem = jwk_to_pem(header["jwk"])
    assert pem is not None
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signing_input, _, sig = forged.token.rpartition(".")
    raw = b64url_decode(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises if not


def test_key_url_headers_point_at_an_unresolvable_host() -> None:
    """jku/x5u probes name an RFC 2606 .invalid host: no traffic can ever leave for it."""
    forged = key_url_headers(token(), ec.generate_private_key(ec.SECP256R1()))
    assert {f.variant for f in forged} == {"jku", "x5u"}
    for f in forged:
        decoded = decode_unverified(f.token)
        assert decoded is not None
        assert decoded[0][f.variant] == ATTACKER_URL
        assert ".invalid/" in ATTACKER_URL


def test_kid_injection_is_signed_with_the_key_the_injection_selects() -> None:
    """../dev/null reads as an empty key; the SQL variant selects a known string."""
    traversal, sql = kid_injection(token())
    assert "../" in (decode_unverified(traversal.token) or ({}, {}))[0]["kid"]
    assert _hs256_valid(traversal.token, b"")
    assert _hs256_valid(sql.token, b"tokenveil-kid-probe")


def test_ecdsa_zero_signature_is_all_zero_bytes_of_the_curve_size() -> None:
    """CVE-2022-21449: r = s = 0, 64/96/132 bytes for ES256/384/512."""
    sizes = {
        f.variant: len(b64url_decode(f.token.rsplit(".", 1)[1]))
        for f in ecdsa_zero_signature(token())
    }
    assert sizes == {"ES256": 64, "ES384": 96, "ES512": 132}
    for f in ecdsa_zero_signature(token()):
        assert set(b64url_decode(f.token.rsplit(".", 1)[1])) == {0}


def test_resign_overrides_claims_and_keeps_a_valid_signature() -> None:
    """With a guessed secret, one claim at a time can be changed and re-signed."""
    forged = resign(token(), SECRET, claims={"exp": 1})
    assert _hs256_valid(forged, SECRET)
    assert (decode_unverified(forged) or ({}, {}))[1]["exp"] == 1
    with pytest.raises(ValueError, match="not a JWT"):
        resign("opaque", SECRET)


def test_forgery_repr_hides_the_token() -> None:
    """A forged token is still a token: its repr shows only the attack and the length."""
    f = alg_none_variants(token())[0]
    assert f.token not in repr(f)
    assert "alg-none:none" in repr(f)


def test_claim_forgeries_break_one_claim_each_and_stay_validly_signed() -> None:
    """Expired, foreign aud and foreign iss tokens, each signed with the known secret."""
    forged = {
        f"{f.attack}:{f.variant}": f.token for f in claim_forgeries(token(), SECRET, now=10_000)
    }
    assert set(forged) == {"expired:resigned", "claims:aud", "claims:iss"}
    for tok in forged.values():
        assert _hs256_valid(tok, SECRET)
    claims = {k: (decode_unverified(v) or ({}, {}))[1] for k, v in forged.items()}
    assert claims["expired:resigned"]["exp"] == 10_000 - 3600
    assert claims["claims:aud"]["aud"] != "api"
    assert claims["claims:aud"]["iss"] == "https://issuer"
    assert claims["claims:iss"]["iss"] != "https://issuer"
