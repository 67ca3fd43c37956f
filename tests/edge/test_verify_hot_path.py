"""The verification hot path's shortcuts change nothing a token can get through.

``decode_signature`` replaces ``b64url_decode`` for signatures (one translation, one strict
decode); the principal is built with ``tuple.__new__`` in field order; int dates skip the
full NumericDate check. Each shortcut is pinned against the slow form here.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest

from tokenveil._principal import Principal
from tokenveil.errors import (
    ClaimMismatch,
    ExpiredToken,
    InvalidToken,
    MalformedToken,
    TokenNotYetValid,
)
from tokenveil.keys import SymmetricKey
from tokenveil.keys._b64 import b64url_decode
from tokenveil.tokens import AccessTokenVerifier
from tokenveil.tokens._jws import decode_signature, encode_compact

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_NOISE = "+/= \n\t.!é\x00"


def _slow(text: str) -> bytes | None:
    try:
        return b64url_decode(text)
    except ValueError:
        return None


def _fast(text: str) -> bytes | None:
    try:
        return decode_signature(text)
    except MalformedToken:
        return None


def test_signature_decoder_agrees_with_b64url_decode_on_valid_signatures() -> None:
    """Every length of real signature bytes decodes to the same bytes."""
    for size in (*range(0, 70), 256, 512):
        data = secrets.token_bytes(size)
        text = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        assert _fast(text) == _slow(text) == data


def test_signature_decoder_refuses_what_b64url_decode_refuses() -> None:
    """Padding, standard-alphabet characters, whitespace, non-ASCII, bad lengths, and every
    non-canonical last character are refused by both, and nothing else is."""
    cases = ["", "A", "AB", "ABC", "ABCD", "AB==", "AB=", "ABC=", "ABCDE", "ab+c", "ab/c"]
    for length in (2, 3, 4, 6, 7):
        for _ in range(300):
            chars = [secrets.choice(_ALPHABET) for _ in range(length)]
            if secrets.randbelow(3) == 0:
                chars[secrets.randbelow(length)] = secrets.choice(_NOISE)
            cases.append("".join(chars))
    # Every possible last character after a 2- and 3-character tail: canonical or not.
    cases += ["AAAA" + "A" + c for c in _ALPHABET] + ["AAAA" + "AA" + c for c in _ALPHABET]
    for text in cases:
        assert _fast(text) == _slow(text), repr(text)


def test_principal_fields_in_the_order_the_verifier_builds_them() -> None:
    """The verifier calls tuple.__new__ with the fields in this order."""
    assert Principal._fields == (
        "sub",
        "scopes",
        "client_id",
        "jti",
        "issued_at",
        "expires_at",
        "kid",
        "jkt",
        "claims",
    )


_KEY = SymmetricKey("k1", b"s" * 32)
_NOW = 1_800_000_000.0


def _verify(**claims: Any) -> Principal:
    base: dict[str, Any] = {
        "iss": "https://i",
        "aud": "api",
        "sub": "usr_1",
        "jti": "j1",
        "client_id": "c1",
        "scope": "a b",
        "iat": int(_NOW),
        "exp": int(_NOW) + 600,
    }
    base.update(claims)
    token = encode_compact({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, base, _KEY)

    class Keys:
        def public_key(self, kid: str) -> SymmetricKey | None:
            return _KEY if kid == "k1" else None

        def is_revoked(self, kid: str) -> bool:
            return False

    verifier = AccessTokenVerifier(
        Keys(), issuer="https://i", audience="api", clock=lambda: _NOW, cache_size=0
    )
    return verifier.verify(token)


def test_verified_principal_is_a_principal_with_every_field() -> None:
    """Built without the named tuple's __new__, it is still a full, immutable Principal."""
    principal = _verify(cnf={"jkt": "thumb"})
    assert type(principal) is Principal
    assert (principal.sub, principal.scopes) == ("usr_1", frozenset({"a", "b"}))
    assert (principal.client_id, principal.jti, principal.kid) == ("c1", "j1", "k1")
    assert (principal.issued_at, principal.expires_at) == (int(_NOW), int(_NOW) + 600)
    assert (principal.jkt, principal.claims["sub"]) == ("thumb", "usr_1")
    with pytest.raises(TypeError):
        principal.claims["sub"] = "other"  # type: ignore[index]


@pytest.mark.parametrize(
    ("claim", "value", "error"),
    [
        ("exp", True, ClaimMismatch),
        ("exp", "4000000000", ClaimMismatch),
        ("exp", float("nan"), InvalidToken),  # not JSON: the payload parser refuses it first
        ("exp", None, ClaimMismatch),
        ("iat", False, ClaimMismatch),
        ("iat", float("inf"), InvalidToken),
        ("exp", _NOW - 31.5, ExpiredToken),
        ("iat", _NOW + 31.5, TokenNotYetValid),
    ],
)
def test_dates_that_are_not_plain_ints_still_get_every_check(
    claim: str, value: object, error: type[Exception]
) -> None:
    """Booleans, strings, NaN and infinities are refused; float dates are honoured."""
    with pytest.raises(error):
        _verify(**{claim: value})


def test_float_dates_accepted_and_truncated() -> None:
    """A float NumericDate (RFC 7519 §2 allows fractions) still verifies."""
    principal = _verify(exp=_NOW + 600.5, iat=_NOW - 0.5)
    assert (principal.issued_at, principal.expires_at) == (int(_NOW - 0.5), int(_NOW + 600.5))
