"""Token-validation checks (TV-VAL-*): a forged token served like the real one is a finding."""

from __future__ import annotations

import pytest

from tests.scan._recorded import exchange, observe, protected
from tokenveil.scan import Target
from tokenveil.scan._checks._validation import ATTACK_RULES, check_token_validation


@pytest.mark.parametrize(("attack", "rule"), sorted(ATTACK_RULES.items()))
def test_each_accepted_attack_maps_to_its_rule(attack: str, rule: str) -> None:
    """A protected endpoint that serves the forged token yields exactly that rule."""
    forged = exchange(f"forge:{attack}:v1", body={"ok": True})
    findings = check_token_validation(observe(*protected(), forged))
    assert [f.id for f in findings] == [rule]
    assert findings[0].endpoint == "GET /me"
    assert any("refused" in e for e in findings[0].evidence)


def test_rejected_forgeries_yield_nothing() -> None:
    """401 for every forged token is the correct behaviour."""
    forged = [exchange(f"forge:{a}:v", status=401) for a in ATTACK_RULES]
    assert check_token_validation(observe(*protected(), *forged)) == []


def test_unprotected_endpoints_prove_nothing() -> None:
    """An endpoint that serves anonymous requests accepts anything: no baseline, no finding."""
    public = [
        exchange("baseline:none", "GET /open"),
        exchange("baseline:access", "GET /open"),
        exchange("forge:alg-none:none", "GET /open"),
    ]
    assert check_token_validation(observe(*public)) == []


def test_signature_attacks_fold_into_signature_not_verified() -> None:
    """When a tampered signature passes, alg none etc. are consequences, listed as evidence."""
    forged = [
        exchange("forge:tampered:signature-flipped"),
        exchange("forge:alg-none:none"),
        exchange("forge:embedded-jwk:ES256"),
        exchange("forge:expired:resigned"),
    ]
    findings = {f.id: f for f in check_token_validation(observe(*protected(), *forged))}
    assert set(findings) == {"TV-VAL-001", "TV-VAL-007"}
    assert "alg-none, embedded-jwk" in findings["TV-VAL-001"].evidence[-1]


def test_alg_none_alone_is_its_own_finding() -> None:
    """An endpoint that verifies signatures but honours alg none: TV-VAL-002, critical."""
    forged = [
        exchange("forge:tampered:signature-flipped", status=401),
        exchange("forge:alg-none:nOnE"),
    ]
    (finding,) = check_token_validation(observe(*protected(), *forged))
    assert finding.id == "TV-VAL-002"
    assert finding.severity.value == "critical"
    assert "nOnE" in finding.evidence[0]


def test_fetches_from_the_key_server_are_reported_even_when_refused() -> None:
    """A target that dereferences jku/x5u does server-side requests on a token's say-so."""
    target = Target("http://127.0.0.1:9", key_url_fetches=["/jwks.json", "/jwks.json"])
    forged = exchange("forge:key-url:jku", status=401)
    (f,) = check_token_validation(observe(*protected(), forged, target=target))
    assert f.id == "TV-VAL-012"
    assert "/jwks.json" in f.evidence[0]
    assert "2 times" in f.evidence[0]


def test_refresh_token_reuse_accepted_is_reported() -> None:
    """A consumed refresh token that still buys an access token: TV-VAL-013 (RFC 9700 §4.14.2)."""
    reuse = exchange("refresh:reuse", "POST /token", body={"access_token": "new"})
    (f,) = check_token_validation(observe(reuse))
    assert f.id == "TV-VAL-013"
    assert f.endpoint == "POST /token"


def test_refresh_token_reuse_refused_is_clean() -> None:
    """invalid_grant on reuse is the correct answer."""
    reuse = exchange("refresh:reuse", "POST /token", status=400, body={"error": "invalid_grant"})
    assert check_token_validation(observe(reuse)) == []
