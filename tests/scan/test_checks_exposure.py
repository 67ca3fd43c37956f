"""PII-exposure checks (TV-PII-*) over recorded exchanges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scan._recorded import BASE, exchange, observe, protected, token
from tokenveil.scan import Endpoint, Severity, Target, TokenSet
from tokenveil.scan._checks._exposure import (
    check_bola,
    check_debug_endpoints,
    check_error_leaks,
    check_token_echo,
    check_token_responses,
    check_undeclared_pii,
    declared_paths,
)
from tokenveil.scan._jose import decode_unverified

EMAIL = "jane.doe@example.com"


def _target(access: str, user2: str | None = None) -> Target:
    tokens = {"user1": TokenSet(access=access)}
    if user2:
        tokens["user2"] = TokenSet(access=user2)
    return Target(BASE, tokens=tokens)


@pytest.mark.parametrize("kind", ["login", "refresh", "introspect"])
def test_pii_in_token_endpoint_answers_is_medium_and_named_by_path(kind: str) -> None:
    """Login, refresh and introspection should answer tokens and metadata, not a profile."""
    answer = exchange(kind, "POST /token", body={"access_token": "x", "user": {"email": EMAIL}})
    (f,) = check_token_responses(observe(answer))
    assert f.id == "TV-PII-001"
    assert f.severity is Severity.MEDIUM
    assert f.evidence == (f"{kind} response EMAIL at $.user.email",)


def test_pii_on_identity_route_is_only_low() -> None:
    """/me returning the caller's email is expected; it is a data-minimisation note."""
    me = exchange("baseline:access", "GET /me", body={"email": EMAIL})
    (f,) = check_token_responses(observe(me))
    assert f.severity is Severity.LOW


def test_login_answer_without_pii_is_clean() -> None:
    """Tokens alone are not personal data."""
    login = exchange("login", "POST /token", body={"access_token": token(), "expires_in": 300})
    assert check_token_responses(observe(login)) == []


def test_raw_token_echo_is_reported() -> None:
    """An endpoint returning the bearer token itself (CWE-200)."""
    access = token()
    echo = exchange("baseline:access", "GET /whoami", body={"you_sent": access})
    (f,) = check_token_echo(observe(echo, target=_target(access)))
    assert f.id == "TV-PII-002"
    assert "raw access token" in f.evidence[0]
    assert access not in " ".join(f.evidence)


def test_decoded_claims_echo_is_reported_by_claim_names() -> None:
    """An endpoint returning the decoded payload: several claim values, exp among them."""
    access = token({"email": EMAIL})
    claims = (decode_unverified(access) or ({}, {}))[1]
    echo = exchange("baseline:access", "GET /debug/token", body={"decoded": claims})
    (f,) = check_token_echo(observe(echo, target=_target(access)))
    assert "email" in f.evidence[0]
    assert "exp" in f.evidence[0]


def test_a_response_sharing_only_the_subject_is_not_an_echo() -> None:
    """Returning {"sub": ...} alone is ordinary, not a claims echo."""
    access = token()
    me = exchange("baseline:access", "GET /me", body={"sub": "42", "name": "x"})
    assert check_token_echo(observe(me, target=_target(access))) == []


def test_error_echoing_the_sent_token_and_pii_is_reported() -> None:
    """CWE-209: the 401 body repeats the token and the user's email."""
    access = token()
    error = exchange(
        "forge:alg-none:none",
        status=401,
        bearer=access,
        body={"detail": f"bad token {access}", "user": EMAIL},
    )
    (f,) = check_error_leaks(observe(error, target=_target(access)))
    text = " ".join(f.evidence)
    assert f.id == "TV-PII-003"
    assert "echoes the access token" in text
    assert "EMAIL at $.user" in text
    assert access not in text
    assert EMAIL not in text


def test_stack_traces_are_recognised_per_runtime() -> None:
    """Python, Java and Node traces in error bodies are TV-PII-004."""
    bodies = {
        "Python": 'Traceback (most recent call last):\n  File "/app/main.py", line 3, in f',
        "Java": "java.lang.NullPointerException\n\tat com.acme.Api.get(Api.java:42)",
        "Node.js": "TypeError: x\n    at handler (/srv/app/index.js:10:5)",
    }
    for runtime, text in bodies.items():
        ex = exchange("error:quote", "GET /orders/{id}", status=500, body=text)
        (f,) = check_error_leaks(observe(ex))
        assert f.id == "TV-PII-004"
        assert runtime in f.evidence[0]


def test_generic_errors_are_clean() -> None:
    """One opaque message per failure class: nothing to report."""
    ex = exchange(
        "error:garbage", status=401, bearer="not-a-jwt-at-all-xx", body={"error": "invalid_token"}
    )
    assert check_error_leaks(observe(ex)) == []


def test_declared_paths_follow_properties_arrays_and_open_objects() -> None:
    """Arrays are [*]; additionalProperties opens a prefix."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
            "meta": {"type": "object", "additionalProperties": True},
        },
    }
    declared, open_ = declared_paths(schema)
    assert "$.items[*].name" in declared
    assert "$.meta" in open_
    assert "$" not in open_


def test_undeclared_pii_is_reported_and_declared_pii_is_not() -> None:
    """CWE-213: an email in a field the schema never mentions."""
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string"}, "theme": {"type": "string"}},
    }
    target = Target(BASE, endpoints=[Endpoint("GET", "/prefs", "/prefs", response_schema=schema)])
    ex = exchange(
        "baseline:access",
        "GET /prefs",
        body={"theme": "dark", "email": EMAIL, "backup_email": "b@example.org"},
    )
    (f,) = check_undeclared_pii(observe(ex, target=target))
    assert f.evidence == ("undeclared field $.backup_email: EMAIL",)


def test_bola_cross_read_is_reported() -> None:
    """User 1's token reads the same object user 2 reads: CWE-639, API1:2023."""
    t1, t2 = token({"sub": "1"}), token({"sub": "2"})
    record = {"id": 2, "email": "bob@example.org"}
    url = f"{BASE}/users/2"
    ref = exchange("bola:ref", "GET /users/{id}", body=record, url=url, user="user2")
    cross = exchange("bola:cross", "GET /users/{id}", body=record, url=url)
    (f,) = check_bola(observe(ref, cross, target=_target(t1, t2)))
    assert f.id == "TV-PII-006"
    assert f.owasp.startswith("API1:2023")
    assert "EMAIL" in f.evidence[0]


def test_bola_refused_cross_read_is_clean() -> None:
    """403 for someone else's object is the correct answer."""
    url = f"{BASE}/users/2"
    ref = exchange("bola:ref", "GET /users/{id}", body={"id": 2}, url=url, user="user2")
    cross = exchange("bola:cross", "GET /users/{id}", status=403, url=url)
    assert check_bola(observe(ref, cross, target=_target(token(), token({"sub": "2"})))) == []


def test_debug_route_dumping_secrets_is_critical_and_names_keys_only() -> None:
    """CWE-215: a settings dump names SECRET_KEY; the value is never quoted."""
    dump = exchange(
        "baseline:none", "GET /debug/settings", body={"SECRET_KEY": "hunter2hunter2", "DEBUG": True}
    )
    (f,) = check_debug_endpoints(observe(dump))
    assert f.severity is Severity.CRITICAL
    assert "SECRET_KEY" in " ".join(f.evidence)
    assert "hunter2" not in " ".join(f.evidence)


def test_debug_route_refusing_anonymous_and_ordinary_users_is_clean() -> None:
    """404/401 on /debug is what a production build should answer."""
    assert check_debug_endpoints(observe(*protected("GET /debug")[:1])) == []
    assert check_debug_endpoints(observe(exchange("baseline:none", "GET /me"))) == []


def test_token_echoed_in_a_response_header_is_reported() -> None:
    """X-Auth-Token style echoes land in proxy and access logs (CWE-200)."""
    access = token()
    echo = exchange(
        "baseline:access", "GET /me", body={"ok": True}, headers={"x-auth-token": access}
    )
    (f,) = check_token_echo(observe(echo, target=_target(access)))
    assert f.evidence == ("response header x-auth-token contains the raw access token",)


@pytest.mark.parametrize(
    ("endpoint", "body", "reported"),
    [
        ("GET /debug/vars", {"goroutines": 12}, True),
        ("GET /api/actuator/env", {"profiles": []}, True),
        ("GET /v1/debug", {"ok": 1}, True),
        ("GET /config", {"DB_PASSWORD": "x" * 12}, True),
        ("GET /config", {"theme": "dark"}, False),
        ("GET /users/me/settings", {"language": "en"}, False),
        ("GET /api/users/{id}/debug-info", {"a": 1}, False),
    ],
)
def test_debug_routes_by_name_and_config_routes_only_with_secrets(
    endpoint: str, body: dict[str, Any], reported: bool
) -> None:
    """Diagnostics by name are reported; a user's /settings is not, unless it dumps secrets."""
    ex = exchange("baseline:access", endpoint, body=body)
    assert bool(check_debug_endpoints(observe(ex))) is reported
