"""Token content: what the tokens themselves give away, read without any network traffic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from tokenveil.scan import _pii
from tokenveil.scan._catalog import make_finding
from tokenveil.scan._checks._base import Observations, json_body, looks_like_jwt
from tokenveil.scan._jose import decode_unverified, guess_hmac_secret, load_wordlist
from tokenveil.scan._model import Finding, Severity

__all__ = ["ACCESS_TTL_LIMIT", "check_token_content", "observed_tokens"]

#: RFC 9068 access tokens are short-lived; tokenveil's own limit without an explicit opt-in.
ACCESS_TTL_LIMIT = 15 * 60
_TYP_OK = {"at+jwt", "application/at+jwt"}


def _walk_strings(obj: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _walk_strings(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _walk_strings(value, f"{path}[{index}]")
    elif isinstance(obj, str):
        yield path, obj


def observed_tokens(obs: Observations) -> list[tuple[str, str, str]]:
    """``(role, token, where)`` for every token the scan holds or saw issued: access, refresh, id,
    and JWTs in token-issuing responses (reset links, nested ``data.token``...)."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    login_where = "supplied token (--token)"
    for ex in obs.probes("login"):
        login_where = f"{ex.request.method} {urlsplit(ex.request.url).path}"
        break
    for tokens in obs.target.tokens.values():
        for role, token in tokens.named():
            if token not in seen:
                seen.add(token)
                out.append((role, token, login_where))
    for ex in obs.exchanges:
        if ex.kind not in ("login", "refresh", "baseline") or ex.response is None:
            continue
        for path, value in _walk_strings(json_body(ex)):
            if looks_like_jwt(value) and value not in seen:
                seen.add(value)
                out.append((f"token at {path}", value, ex.endpoint))
    return out


def _lifetime(claims: dict[str, Any], now: float) -> float | None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        return None
    start = claims.get("iat")
    return float(exp) - float(start if isinstance(start, int | float) else now)


def check_token_content(obs: Observations) -> list[Finding]:
    """TV-JWT-001…008 over every token the scan obtained."""
    evidence: dict[tuple[str, str], list[str]] = {}
    severity: dict[tuple[str, str], Severity] = {}

    def add(rule: str, where: str, text: str, sev: Severity | None = None) -> None:
        items = evidence.setdefault((rule, where), [])
        if text not in items:
            items.append(text)
        if sev is not None and (rule, where) not in severity:
            severity[(rule, where)] = sev

    wordlist = load_wordlist()
    for role, token, where in observed_tokens(obs):
        decoded = decode_unverified(token)
        if decoded is None:
            continue
        header, claims = decoded
        for hit in _pii.in_claims(claims):
            if not hit.secret:
                # Evidence names the claim and the kind: the value stays in the token.
                add("TV-JWT-001", where, f"{role} token claim {hit.path}: {hit.kind}")
        alg = str(header.get("alg", ""))
        if alg.lower() == "none":
            add("TV-JWT-006", where, f"{role} token is unsigned (alg {alg})", Severity.CRITICAL)
        elif alg.startswith("HS"):
            add(
                "TV-JWT-006",
                where,
                f"{role} token signed with {alg}: every verifier holds the signing key",
            )
            secret = guess_hmac_secret(token, wordlist)
            if secret is not None:
                add(
                    "TV-JWT-007",
                    where,
                    f"{role} token's {alg} secret is in the bundled wordlist ({len(secret)} chars)",
                )
        if role not in ("access", "id"):
            continue
        lifetime = _lifetime(claims, obs.now)
        if "exp" not in claims:
            add("TV-JWT-002", where, f"{role} token has no exp claim")
        elif role == "access" and lifetime is not None and lifetime > ACCESS_TTL_LIMIT:
            sev = Severity.HIGH if lifetime > 24 * 3600 else None
            add(
                "TV-JWT-003",
                where,
                f"access token lifetime {int(lifetime // 60)} min (limit 15 min)",
                sev,
            )
        if "aud" not in claims:
            add("TV-JWT-004", where, f"{role} token has no aud claim")
        if "iss" not in claims:
            add("TV-JWT-005", where, f"{role} token has no iss claim")
        typ = str(header.get("typ", "")).lower()
        if role == "access" and typ not in _TYP_OK:
            shown = f"typ {header['typ']!r}" if "typ" in header else "no typ header"
            add("TV-JWT-008", where, f"access token has {shown} (expected at+jwt)")
    return [
        make_finding(rule, where, items, severity=severity.get((rule, where)))
        for (rule, where), items in evidence.items()
    ]
