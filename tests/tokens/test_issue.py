"""Issuing access tokens: minimal RFC 9068 claims, and no PII ever (security invariant 1)."""

from __future__ import annotations

import json
import warnings

import pytest

from tests.tokens._helpers import AUDIENCE, ISSUER, Clock, make_ring, verifier_for
from tokenveil.config import InsecureSettingWarning, Settings
from tokenveil.errors import ClaimsPolicyViolation, ConfigurationError
from tokenveil.keys._b64 import b64url_decode
from tokenveil.tokens import ClaimsPolicy, TokenIssuer


async def _issuer(clock: Clock, policy: ClaimsPolicy | None = None) -> TokenIssuer:
    ring = await make_ring(clock)
    return TokenIssuer(ring, issuer=ISSUER, audience=AUDIENCE, ttl=600, policy=policy, clock=clock)


async def test_issued_token_has_rfc9068_header_and_minimal_claims() -> None:
    """Header typ at+jwt with alg and kid; claims exactly the RFC 9068 set."""
    clock = Clock()
    issuer = await _issuer(clock)
    issued = issuer.issue(sub="usr_x", client_id="web", scope=["b", "a", "a"])
    header = json.loads(b64url_decode(issued.token.split(".")[0]))
    claims = json.loads(b64url_decode(issued.token.split(".")[1]))
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": header["kid"]}
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}
    assert claims["scope"] == "a b"
    assert claims["exp"] - claims["iat"] == 600
    assert issued.token not in repr(issued)


@pytest.mark.parametrize(
    ("sub", "kind"),
    [
        ("alice@example.com", "EMAIL"),
        ("+44 20 7946 0958", "PHONE"),
        ("4111 1111 1111 1111", "CREDIT_CARD"),
    ],
)
async def test_pii_in_sub_refused_naming_claim_not_value(sub: str, kind: str) -> None:
    """A sub holding an email, phone or card number is refused; the error names only the claim."""
    issuer = await _issuer(Clock())
    with pytest.raises(ClaimsPolicyViolation) as info:
        issuer.issue(sub=sub, client_id="web")
    assert info.value.claim == "sub"
    assert info.value.kind == kind
    assert sub not in str(info.value)
    assert sub not in repr(info.value)


async def test_unregistered_claim_refused() -> None:
    """A claim off the allow-list (an email claim, say) is refused whatever its value."""
    issuer = await _issuer(Clock())
    with pytest.raises(ClaimsPolicyViolation) as info:
        issuer.issue(sub="usr_x", client_id="web", extra={"email": "x"})
    assert info.value.claim == "email"


async def test_registered_extra_claim_still_linted_for_pii() -> None:
    """An app may register extra claims; their values are still checked for PII."""
    clock = Clock()
    ring = await make_ring(clock)
    issuer = TokenIssuer(
        ring,
        issuer=ISSUER,
        audience=AUDIENCE,
        policy=ClaimsPolicy.with_extra(["tenant"]),
        clock=clock,
    )
    token = issuer.issue(sub="usr_x", client_id="web", extra={"tenant": "acme-eu"}).token
    assert verifier_for(ring, clock).verify(token).claims["tenant"] == "acme-eu"
    with pytest.raises(ClaimsPolicyViolation):
        issuer.issue(sub="usr_x", client_id="web", extra={"tenant": "bob@example.com"})


def test_access_ttl_over_15_minutes_needs_opt_in_and_warns() -> None:
    """Lifetimes are minutes: over 15 needs allow_long_access_ttl and emits a warning."""
    with pytest.raises(ConfigurationError):
        Settings(access_ttl=3600)
    with pytest.warns(InsecureSettingWarning):
        Settings(access_ttl=3600, allow_long_access_ttl=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Settings(access_ttl=900)


@pytest.mark.parametrize(
    "extra",
    [
        {"tenant": {"bob.smith@example.com": True}},
        {"tenant": {"ok": {"a b": 1}}},
        {"tenant": [{"x@y.example": 1}]},
    ],
)
async def test_nested_object_keys_must_be_plain_names(extra: dict[str, object]) -> None:
    """PII hidden in a nested object key is refused; the error names the top-level claim only."""
    issuer = await _issuer(Clock(), ClaimsPolicy.with_extra(["tenant"]))
    with pytest.raises(ClaimsPolicyViolation) as info:
        issuer.issue(sub="usr_x", client_id="web", extra=extra)
    assert info.value.claim == "tenant"
    assert "example" not in str(info.value)


@pytest.mark.parametrize(
    "claim",
    ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "cnf", "typ", "cty"],
)
async def test_extra_claims_never_overwrite_core_claims(claim: str) -> None:
    """An extra claim named like a core one is refused, naming the claim, even if registered."""
    issuer = await _issuer(Clock(), ClaimsPolicy.with_extra([claim]))
    with pytest.raises(ClaimsPolicyViolation) as info:
        issuer.issue(sub="usr_x", client_id="web", extra={claim: "usr_admin-forged"})
    assert info.value.claim == claim
    assert "usr_admin-forged" not in str(info.value)
