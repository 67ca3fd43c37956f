"""Claims lint: which claims of a token would carry personal data (security invariant 1)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tokenveil import pii
from tokenveil.errors import MalformedToken
from tokenveil.pii._claims import _decode_unverified


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_token(claims: dict[str, object]) -> str:
    header = _b64(json.dumps({"alg": "ES256", "typ": "at+jwt"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'not-a-signature')}"


def test_registered_claims_with_opaque_values_are_clean() -> None:
    """iss/sub(uuid)/aud/exp/iat/nbf/jti/scope/client_id hold no personal data."""
    claims = {
        "iss": "https://auth.example.test",
        "sub": str(uuid.uuid4()),
        "aud": "api",
        "exp": 1_900_000_000,
        "iat": 1_899_999_400,
        "nbf": 1_899_999_400,
        "jti": str(uuid.uuid4()),
        "scope": "orders:read",
        "client_id": "web",
    }
    assert pii.lint_claims(claims) == []


def test_pii_claims_are_reported_with_claim_paths() -> None:
    """OIDC profile claims and nested claims are named by their claim path."""
    claims = {
        "sub": "ana@example.org",
        "name": "Ana Lima",
        "email": "ana@example.org",
        "profile": {"phone": "+33 6 12 34 56 78", "birthdate": "1990-04-01"},
        "addresses": ["Rua Augusta 12, Lisboa"],
    }
    found = [(f.path, f.kind) for f in pii.lint_claims(claims)]
    assert found == [
        ("sub", "EMAIL"),
        ("name", "PERSON"),
        ("email", "EMAIL"),
        ("profile.phone", "PHONE"),
        ("profile.birthdate", "DATE_OF_BIRTH"),
        ("addresses[0]", "ADDRESS"),
    ]


def test_lint_token_decodes_without_verifying_and_lints() -> None:
    """An unsigned token's payload is linted; the signature is never looked at."""
    token = _unsigned_token({"sub": "ana@example.org", "exp": 1_900_000_000})
    assert [(f.path, f.kind) for f in pii.lint_token(token)] == [("sub", "EMAIL")]


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.!!!.c", f"{_b64(b'{}')}.{_b64(b'[1,2]')}.sig", "a.b.c.d.e"],
)
def test_malformed_tokens_raise_malformed_token_without_echoing_input(token: str) -> None:
    """Garbage raises MalformedToken and the message does not contain the input."""
    with pytest.raises(MalformedToken) as info:
        pii.lint_token(token)
    if token:
        assert token not in str(info.value)


def test_the_unverified_decoder_is_named_as_such() -> None:
    """Reading a token without checking it is loudly named and returns the raw payload."""
    token = _unsigned_token({"sub": "x"})
    assert "UNVERIFIED" in (_decode_unverified.__doc__ or "")
    assert _decode_unverified(token) == {"sub": "x"}
