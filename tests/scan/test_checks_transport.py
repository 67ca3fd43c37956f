"""Transport and caching checks (TV-TRN-*) over recorded exchanges."""

from __future__ import annotations

from tests.scan._recorded import exchange, observe, protected, token
from tokenveil.scan import Severity, Target
from tokenveil.scan._checks._transport import (
    check_cache_control,
    check_cookies,
    check_plain_http,
    check_query_token,
    parse_set_cookie,
)


def test_plain_http_on_loopback_is_informational() -> None:
    """A test server on 127.0.0.1 is http: reported as info, never above."""
    (f,) = check_plain_http(observe(*protected()))
    assert f.id == "TV-TRN-001"
    assert f.severity is Severity.INFO


def test_plain_http_elsewhere_is_high_and_lacks_https_enforcement() -> None:
    """A public host serving tokens over http://: CWE-319, high; no HTTPS redirect either."""
    url = "http://api.example.test/me"
    target = Target("http://api.example.test")
    served = exchange("baseline:access", bearer="t" * 20, url=url)
    found = {f.id: f for f in check_plain_http(observe(served, target=target))}
    assert found["TV-TRN-001"].severity is Severity.HIGH
    assert "TV-TRN-002" in found


def test_https_without_hsts_or_redirect_is_reported() -> None:
    """HTTPS target: no Strict-Transport-Security, and http:// answers 200 instead of 301."""
    target = Target("https://api.example.test")
    served = exchange("baseline:access", bearer="t" * 20, url="https://api.example.test/me")
    plain = exchange("https-redirect", "GET /", url="http://api.example.test/")
    found = check_plain_http(observe(served, plain, target=target))
    assert sorted(f.id for f in found) == ["TV-TRN-002", "TV-TRN-002"]


def test_https_with_hsts_and_redirect_is_clean() -> None:
    """HSTS on every response and a redirect to https:// is the expected setup."""
    target = Target("https://api.example.test")
    served = exchange(
        "baseline:access",
        bearer="t" * 20,
        url="https://api.example.test/me",
        headers={"strict-transport-security": "max-age=31536000"},
    )
    redirect = exchange(
        "https-redirect",
        "GET /",
        status=301,
        url="http://api.example.test/",
        headers={"location": "https://api.example.test/"},
    )
    assert check_plain_http(observe(served, redirect, target=target)) == []


def test_query_string_token_accepted_is_reported() -> None:
    """RFC 6750 §2.3 / CWE-598: ?access_token= served on a protected endpoint."""
    q = exchange("query-token:access_token")
    (f,) = check_query_token(observe(*protected(), q))
    assert f.id == "TV-TRN-003"


def test_query_string_token_refused_is_clean() -> None:
    """401 for ?access_token= is correct."""
    q = exchange("query-token:access_token", status=401)
    assert check_query_token(observe(*protected(), q)) == []


def test_token_response_without_no_store_is_reported_with_the_header_value() -> None:
    """CWE-525: a login answer cacheable by intermediaries."""
    login = exchange(
        "login",
        "POST /token",
        body={"access_token": token()},
        headers={"cache-control": "max-age=60"},
    )
    (f,) = check_cache_control(observe(login))
    assert f.id == "TV-TRN-004"
    assert "Cache-Control: max-age=60" in f.evidence[0]


def test_no_store_or_no_sensitive_content_is_clean() -> None:
    """no-store on token answers; harmless answers need nothing."""
    login = exchange(
        "login",
        "POST /token",
        body={"access_token": token()},
        headers={"cache-control": "no-store"},
    )
    health = exchange("baseline:none", "GET /health", body={"status": "ok"})
    assert check_cache_control(observe(login, health)) == []


def test_parse_set_cookie_reads_flags_and_attributes() -> None:
    """Flags are lower-cased; attribute values kept."""
    parsed = parse_set_cookie("__Host-at=abc; Path=/; Secure; HttpOnly; SameSite=Strict")
    assert parsed == (
        "__Host-at",
        "abc",
        {"secure", "httponly"},
        {"path": "/", "samesite": "Strict"},
    )
    assert parse_set_cookie("garbage") is None


def test_token_cookie_without_flags_is_reported_per_flag() -> None:
    """A session cookie without Secure, HttpOnly, SameSite or __Host- prefix."""
    login = exchange("login", "POST /token", cookies=["session=abcdef0123456789; Path=/"])
    found = {f.id: f for f in check_cookies(observe(login, target=Target("https://x.test")))}
    assert set(found) == {"TV-TRN-005", "TV-TRN-006", "TV-TRN-007", "TV-TRN-008"}
    assert found["TV-TRN-005"].severity is Severity.MEDIUM
    assert found["TV-TRN-006"].evidence == ("cookie session",)


def test_hardened_token_cookie_and_unrelated_cookies_are_clean() -> None:
    """__Host- + Secure + HttpOnly + SameSite passes; a theme cookie is not a token."""
    login = exchange(
        "login",
        "POST /token",
        cookies=[
            "__Host-refresh=opaque0123456789; Path=/; Secure; HttpOnly; SameSite=Strict",
            "theme=dark; Path=/",
        ],
    )
    assert check_cookies(observe(login)) == []
