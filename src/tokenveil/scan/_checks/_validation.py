"""Token validation, proven by comparison: each protected endpoint refused a request without a
token and served one with the real token; a forged token it also serves is a finding.

Forged-token probes are recorded as ``forge:<attack>:<variant>`` on the endpoint they hit.
"""

from __future__ import annotations

from tokenveil.scan._catalog import make_finding
from tokenveil.scan._checks._base import Observations, json_body, protected_endpoints
from tokenveil.scan._model import Exchange, Finding

__all__ = ["ATTACK_RULES", "check_token_validation"]

#: Which rule a forged token proves when it is accepted.
ATTACK_RULES: dict[str, str] = {
    "tampered": "TV-VAL-001",
    "alg-none": "TV-VAL-002",
    "key-confusion": "TV-VAL-003",
    "embedded-jwk": "TV-VAL-004",
    "key-url": "TV-VAL-005",
    "kid-injection": "TV-VAL-006",
    "expired": "TV-VAL-007",
    "claims": "TV-VAL-008",
    "refresh-as-access": "TV-VAL-009",
    "id-as-access": "TV-VAL-009",
    "revoked": "TV-VAL-010",
    "ecdsa-zero": "TV-VAL-011",
}
#: Attacks on the signature: once any signature is accepted (TV-VAL-001) they prove nothing more.
_SIGNATURE_ATTACKS = {
    "alg-none",
    "key-confusion",
    "embedded-jwk",
    "key-url",
    "kid-injection",
    "ecdsa-zero",
}


def _attack(ex: Exchange) -> tuple[str, str]:
    attack, _, variant = ex.variant.partition(":")
    return attack, variant


def check_token_validation(obs: Observations) -> list[Finding]:
    """TV-VAL-001…011: forged, expired, foreign or revoked tokens served like the real one."""
    protected = protected_endpoints(obs)
    accepted: dict[str, dict[str, list[str]]] = {}
    for ex in obs.probes("forge"):
        if ex.endpoint not in protected or ex.response is None or not ex.response.ok:
            continue
        attack, variant = _attack(ex)
        if attack in ATTACK_RULES:
            accepted.setdefault(ex.endpoint, {}).setdefault(attack, []).append(variant)
    findings: list[Finding] = []
    fetched = obs.target.key_url_fetches
    if fetched:
        # The target dereferenced a URL taken from a token header: SSRF even if it then refused.
        paths = ", ".join(sorted(set(fetched)))
        findings.append(
            make_finding(
                "TV-VAL-012",
                "jku/x5u token header",
                [
                    f"the target fetched {paths} from the scanner's key server "
                    f"({len(fetched)} times)"
                ],
            )
        )
    for ex in obs.exchanges:
        if ex.probe == "refresh:reuse" and ex.response is not None and ex.response.ok:
            body = json_body(ex)
            if isinstance(body, dict) and body.get("access_token"):
                findings.append(
                    make_finding(
                        "TV-VAL-013",
                        ex.endpoint,
                        [
                            "the refresh token consumed by a refresh was accepted a second time "
                            f"(status {ex.response.status}, new access token issued)"
                        ],
                    )
                )
    for endpoint, attacks in sorted(accepted.items()):
        unchecked = "tampered" in attacks
        for attack, variants in attacks.items():
            if unchecked and attack in _SIGNATURE_ATTACKS:
                continue
            evidence = [f"{attack} token ({v}) served with status 2xx" for v in variants]
            evidence.append("same request without a token was refused (401/403)")
            if attack == "tampered":
                also = sorted(a for a in attacks if a in _SIGNATURE_ATTACKS)
                if also:
                    evidence.append(f"also accepted, as a consequence: {', '.join(also)}")
            findings.append(make_finding(ATTACK_RULES[attack], endpoint, evidence))
    return findings
