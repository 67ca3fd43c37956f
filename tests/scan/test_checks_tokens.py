"""Token-content checks (TV-JWT-*) over tokens the scan holds, without any network."""

from __future__ import annotations

import time

from tests.scan._recorded import BASE, exchange, observe, token
from tokenveil.scan import Exchange, Finding, Severity, Target, TokenSet
from tokenveil.scan._checks._tokens import check_token_content
from tokenveil.scan._jose import sign_hmac


def _scan(access: str, refresh: str | None = None, *extra: Exchange) -> dict[str, Finding]:
    target = Target(BASE, tokens={"user1": TokenSet(access=access, refresh=refresh)})
    findings = check_token_content(observe(*extra, target=target))
    return {f.id: f for f in findings}


def test_a_minimal_token_raises_only_the_symmetric_algorithm_note() -> None:
    """sub/iat/exp(5 min)/aud/iss with typ at+jwt: nothing but HS256 itself is reported."""
    assert set(_scan(token())) == {"TV-JWT-006"}


def test_pii_in_claims_is_reported_by_claim_path_and_kind_never_value() -> None:
    """Email and phone, nested too, are named by claim and kind; the values stay out."""
    found = _scan(token({"email": "jane.doe@example.com", "profile": {"phone": "+1 415 555 2671"}}))
    f = found["TV-JWT-001"]
    text = " ".join(f.evidence)
    assert "email: EMAIL" in text
    assert "profile.phone: PHONE" in text
    assert "jane.doe" not in text
    assert "555" not in text
    assert f.severity is Severity.HIGH
    assert f.cwe == 359


def test_pii_in_refresh_and_reset_tokens_is_reported_too() -> None:
    """Refresh tokens and JWTs issued in a response field (reset links) are linted alike."""
    reset = token({"email": "reset.me@example.com"})
    login = exchange("login", "POST /token", body={"data": {"reset_token": reset}})
    found = _scan(token(), token({"mail": "r@example.com"}), login)
    text = " ".join(found["TV-JWT-001"].evidence)
    assert "refresh token claim mail: EMAIL" in text
    assert "token at $.data.reset_token token claim email: EMAIL" in text


def test_missing_exp_is_high() -> None:
    """A token without exp never expires (CWE-613)."""
    tok = sign_hmac(
        {"alg": "HS256", "typ": "at+jwt"}, {"sub": "1", "aud": "a", "iss": "i"}, b"k" * 32
    )
    assert _scan(tok)["TV-JWT-002"].severity is Severity.HIGH


def test_hours_long_access_token_is_reported_with_its_lifetime() -> None:
    """8 h access tokens exceed the 15 min budget; over a day is high."""
    now = int(time.time())
    eight_hours = _scan(token({"iat": now, "exp": now + 8 * 3600}))["TV-JWT-003"]
    assert "480 min" in eight_hours.evidence[0]
    assert eight_hours.severity is Severity.MEDIUM
    week = _scan(token({"iat": now, "exp": now + 7 * 86400}))["TV-JWT-003"]
    assert week.severity is Severity.HIGH
    assert "TV-JWT-003" not in _scan(token({"iat": now, "exp": now + 900}))


def test_missing_aud_iss_and_typ_are_reported() -> None:
    """No aud (medium), no iss (low), typ JWT instead of at+jwt (low)."""
    tok = sign_hmac(
        {"alg": "HS256", "typ": "JWT"}, {"sub": "1", "exp": int(time.time()) + 60}, b"k" * 32
    )
    found = _scan(tok)
    assert found["TV-JWT-004"].severity is Severity.MEDIUM
    assert found["TV-JWT-005"].severity is Severity.LOW
    assert "typ 'JWT'" in found["TV-JWT-008"].evidence[0]


def test_guessable_hmac_secret_is_critical_and_the_secret_is_not_shown() -> None:
    """A wordlist secret means anyone can mint tokens (CWE-1391); evidence gives its length."""
    found = _scan(token(key=b"your-secure-secret-or-private-key"))
    f = found["TV-JWT-007"]
    assert f.severity is Severity.CRITICAL
    assert "your-secure" not in " ".join(f.evidence)
    assert "33 chars" in f.evidence[0]


def test_unsigned_token_issued_is_critical() -> None:
    """A server that issues alg none tokens signs nothing at all."""
    unsigned = sign_hmac({"alg": "none"}, {"sub": "1"}, b"").rsplit(".", 1)[0] + "."
    assert _scan(unsigned)["TV-JWT-006"].severity is Severity.CRITICAL


def test_opaque_tokens_are_not_linted() -> None:
    """Opaque refresh tokens carry no claims: nothing to report about them."""
    found = _scan(token(), "opaque-refresh-4f9a2c")
    assert all("refresh" not in " ".join(f.evidence) for f in found.values())
