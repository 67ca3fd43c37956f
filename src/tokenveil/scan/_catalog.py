"""The rule catalogue: one stable id per check, with its CWE, OWASP API Top 10 2023 category,
default severity and remediation. Ids never change meaning; a retired check keeps its id unused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokenveil.scan._model import Finding, Severity

__all__ = ["RULES", "Rule", "make_finding"]

API1 = "API1:2023 Broken Object Level Authorization"
API2 = "API2:2023 Broken Authentication"
API3 = "API3:2023 Broken Object Property Level Authorization"
API7 = "API7:2023 Server Side Request Forgery"
API8 = "API8:2023 Security Misconfiguration"

C, H, M, L, INFO = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    cwe: int
    owasp: str
    remediation: str


_RULES: tuple[Rule, ...] = (
    # --- token content ------------------------------------------------------------------------
    Rule("TV-JWT-001", "Personal data in token claims", H, 359, API3,
         "Keep only opaque identifiers (sub, scope) in tokens; fetch profile data server-side."),
    Rule("TV-JWT-002", "Access token has no expiry", H, 613, API2,
         "Always set exp; access tokens should live minutes (RFC 9068)."),
    Rule("TV-JWT-003", "Access token lives longer than 15 minutes", M, 613, API2,
         "Shorten the access-token lifetime to minutes and renew through refresh tokens."),
    Rule("TV-JWT-004", "Token has no audience (aud)", M, 345, API2,
         "Set aud and check it on every resource server (RFC 8725 §3.9)."),
    Rule("TV-JWT-005", "Token has no issuer (iss)", L, 345, API2,
         "Set iss and check it on every resource server (RFC 8725 §3.8)."),
    Rule("TV-JWT-006", "Weak or symmetric signing algorithm", M, 327, API2,
         "Sign with an asymmetric algorithm (ES256, EdDSA, RS256) and take alg from the key."),
    Rule("TV-JWT-007", "HMAC signing secret is guessable", C, 1391, API2,
         "Use a random key of 256+ bits from a secret store, or switch to asymmetric keys."),
    Rule("TV-JWT-008", "Token type (typ) not declared or not enforced", L, 345, API2,
         "Issue typ at+jwt access tokens; reject other types (RFC 9068 §2.1, RFC 8725 §3.11)."),
    # --- token validation ---------------------------------------------------------------------
    Rule("TV-VAL-001", "Signature not verified", C, 347, API2,
         "Verify every token's signature with the key named by kid before reading any claim."),
    Rule("TV-VAL-002", "Unsigned token (alg none) accepted", C, 347, API2,
         "Reject alg none in every spelling; take the algorithm from the key (RFC 8725 §3.1)."),
    Rule("TV-VAL-003", "Algorithm confusion: HMAC keyed with the public key accepted", C, 347,
         API2,
         "Bind each key to one algorithm; never verify HS* with an RSA/EC public key."),
    Rule("TV-VAL-004", "Key embedded in the token header (jwk) trusted", C, 347, API2,
         "Ignore jwk headers; only trust keys from your own key set."),
    Rule("TV-VAL-005", "Key URL in the token header (jku/x5u) trusted", C, 347, API2,
         "Never fetch keys from URLs named in a token; pin the JWKS URL in configuration."),
    Rule("TV-VAL-006", "kid header injection accepted", C, 347, API2,
         "Look kid up in a fixed key set; never use it as a path, query or command."),
    Rule("TV-VAL-007", "Expired token accepted", H, 613, API2,
         "Check exp on every request with a small leeway."),
    Rule("TV-VAL-008", "Token for another audience or issuer accepted", H, 345, API2,
         "Check aud and iss against exact expected values."),
    Rule("TV-VAL-009", "Refresh or ID token accepted as an access token", H, 345, API2,
         "Make refresh tokens opaque and check typ at+jwt (RFC 9068), so no other token passes."),
    Rule("TV-VAL-010", "Token still accepted after revocation", M, 613, API2,
         "Check revocation on the hot path (a deny list keyed by jti or family)."),
    Rule("TV-VAL-011", "ECDSA zero signature accepted (CVE-2022-21449)", C, 347, API2,
         "Reject r=0 or s=0 signatures; update the JOSE library and the runtime."),
    Rule("TV-VAL-012", "Server fetches key URLs named in token headers (SSRF)", M, 918, API7,
         "Never dereference jku/x5u from a token; pin key URLs in configuration (RFC 8725 §3.10)."),
    Rule("TV-VAL-013", "Rotated refresh token accepted again (no reuse detection)", H, 294, API2,
         "Make refresh tokens single-use; on reuse revoke the whole family (RFC 9700 §4.14.2)."),
    # --- PII exposure -------------------------------------------------------------------------
    Rule("TV-PII-001", "Personal data in a token-related response", M, 359, API3,
         "Return tokens and minimal metadata only; mask or drop profile fields by scope."),
    Rule("TV-PII-002", "Endpoint echoes the token or its decoded claims", H, 200, API3,
         "Never return the raw token or its decoded payload to clients."),
    Rule("TV-PII-003", "Error body leaks personal data or a token", M, 209, API8,
         "Return one generic error per failure class; log details server-side, redacted."),
    Rule("TV-PII-004", "Error body contains a stack trace", M, 209, API8,
         "Disable debug error pages; catch exceptions at the edge and return a generic message."),
    Rule("TV-PII-005", "Response carries personal data its schema does not declare", M, 213, API3,
         "Serialize through the declared response model; filter undeclared fields."),
    Rule("TV-PII-006", "Another user's data reachable (BOLA)", H, 639, API1,
         "Check object ownership against the token's subject on every object access."),
    Rule("TV-PII-007", "Debug or diagnostic endpoint exposed", H, 215, API8,
         "Remove debug routes from production builds or put them behind admin authentication."),
    # --- transport and caching ----------------------------------------------------------------
    Rule("TV-TRN-001", "Token accepted over plain HTTP", H, 319, API8,
         "Serve the API over HTTPS only; refuse bearer tokens on plain HTTP."),
    Rule("TV-TRN-002", "No HTTPS enforcement (redirect or HSTS)", M, 319, API8,
         "Redirect HTTP to HTTPS and send Strict-Transport-Security."),
    Rule("TV-TRN-003", "Token accepted in the query string", M, 598, API8,
         "Accept bearer tokens only in the Authorization header (RFC 6750 §2.3, RFC 9700)."),
    Rule("TV-TRN-004", "Response with a token or personal data is cacheable", M, 525, API8,
         "Send Cache-Control: no-store on every response carrying a token or personal data."),
    Rule("TV-TRN-005", "Token cookie without Secure", M, 614, API8,
         "Set Secure on every cookie that carries a token."),
    Rule("TV-TRN-006", "Token cookie without HttpOnly", M, 1004, API8,
         "Set HttpOnly so scripts (XSS) cannot read the token."),
    Rule("TV-TRN-007", "Token cookie without SameSite", L, 1275, API8,
         "Set SameSite=Lax or Strict on token cookies (CSRF)."),
    Rule("TV-TRN-008", "Token cookie without the __Host- prefix", INFO, 784, API8,
         "Name token cookies __Host-… (Secure, Path=/, no Domain) so subdomains cannot set them."),
)  # fmt: skip

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def make_finding(
    rule_id: str,
    endpoint: str,
    evidence: Iterable[str],
    *,
    severity: Severity | None = None,
) -> Finding:
    """A finding for ``rule_id``; ``severity`` overrides the rule's default where context says."""
    rule = RULES[rule_id]
    return Finding(
        id=rule.id,
        title=rule.title,
        severity=severity or rule.severity,
        cwe=rule.cwe,
        owasp=rule.owasp,
        endpoint=endpoint,
        evidence=tuple(evidence),
        remediation=rule.remediation,
    )
