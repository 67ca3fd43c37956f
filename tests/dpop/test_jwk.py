"""The proof header's ``jwk``: RFC 7638 thumbprints and the public-key-only rule."""

from __future__ import annotations

import pytest

from tokenveil.dpop import jwk_thumbprint
from tokenveil.dpop._jwk import dpop_public_key
from tokenveil.keys import generate_private_key

# RFC 7638 §3.1, the worked example.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW"
        "2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQ"
        "Fh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_thumbprint_matches_rfc7638_section_3_1_vector() -> None:
    """The RFC 7638 §3.1 example key hashes to the published thumbprint."""
    assert jwk_thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_optional_members() -> None:
    """Only the required members count (RFC 7638 §3.2): kid, alg and use change nothing."""
    bare = {k: RFC7638_JWK[k] for k in ("kty", "n", "e")}
    assert jwk_thumbprint(bare) == jwk_thumbprint(RFC7638_JWK)


def test_rsa_key_from_the_rfc_example_is_accepted_with_its_thumbprint() -> None:
    """A 2048-bit RSA public JWK verifies RS256 proofs and yields its RFC 7638 thumbprint."""
    key, jkt = dpop_public_key(RFC7638_JWK, "RS256")
    assert key.alg == "RS256"
    assert jkt == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_private_member_in_jwk_is_refused(member: str) -> None:
    """A jwk carrying any private or symmetric member is refused (RFC 9449 §4.3 check 7)."""
    jwk = {**RFC7638_JWK, member: "AQAB"}
    with pytest.raises(ValueError, match="private_key_in_jwk"):
        dpop_public_key(jwk, "RS256")


@pytest.mark.parametrize(
    ("alg", "kty"),
    [("ES256", "RSA"), ("EdDSA", "EC"), ("RS256", "OKP")],
)
def test_key_type_must_fit_the_algorithm(alg: str, kty: str) -> None:
    """A key whose type does not match the header alg is refused (no algorithm confusion)."""
    jwk = {
        "RSA": RFC7638_JWK,
        "EC": generate_private_key("ES256").public.to_jwk(),
        "OKP": generate_private_key("EdDSA").public.to_jwk(),
    }[kty]
    with pytest.raises(ValueError, match="bad_jwk"):
        dpop_public_key(jwk, alg)


@pytest.mark.parametrize("jwk", [None, "a string", {"kty": "EC", "crv": "P-256", "x": 1, "y": 2}])
def test_malformed_jwk_is_refused(jwk: object) -> None:
    """Non-objects and members that are not strings are refused as bad_jwk, never a crash."""
    with pytest.raises(ValueError, match="bad_jwk"):
        dpop_public_key(jwk, "ES256")


def test_ec_point_not_on_the_curve_is_refused() -> None:
    """An EC jwk whose point is off P-256 is refused (invalid-curve attacks)."""
    jwk = generate_private_key("ES256").public.to_jwk()
    jwk["y"] = jwk["x"]
    with pytest.raises(ValueError, match="bad_jwk"):
        dpop_public_key(jwk, "ES256")


def test_optional_members_do_not_change_the_key_or_its_thumbprint() -> None:
    """use, key_ops and kid are ignored: the key and jkt come from the key members only."""
    jwk = generate_private_key("ES256").public.to_jwk()
    bare = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    decorated: dict[str, object] = {**bare, "use": "sig", "key_ops": ["verify"], "kid": "k"}
    assert dpop_public_key(decorated, "ES256")[1] == jwk_thumbprint(bare)
