"""Transport and caching: where tokens travel and where responses that carry them may be kept.

Loopback targets (127.0.0.0/8, ::1, localhost) are test and development servers: plain HTTP is
reported as info there and the HTTPS redirect/HSTS check is skipped; anywhere else it is high.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from tokenveil.scan import _pii
from tokenveil.scan._catalog import make_finding
from tokenveil.scan._checks._base import (
    Observations,
    json_body,
    looks_like_jwt,
    protected_endpoints,
    sent_token,
)
from tokenveil.scan._checks._tokens import _walk_strings
from tokenveil.scan._model import Exchange, Finding, Severity, is_loopback_url

__all__ = [
    "check_cache_control",
    "check_cookies",
    "check_plain_http",
    "check_query_token",
    "parse_set_cookie",
]

_TOKEN_COOKIE_HINTS = ("token", "jwt", "session", "auth", "sid", "access", "refresh")


def check_plain_http(obs: Observations) -> list[Finding]:
    """TV-TRN-001 (token served over plain HTTP) and TV-TRN-002 (no HTTPS redirect or HSTS)."""
    findings: list[Finding] = []
    target = obs.target
    loopback = target.loopback
    accepted_http: list[Exchange] = []
    for ex in obs.answered():
        assert ex.response is not None
        over_http = urlsplit(ex.request.url).scheme == "http"
        has_token = bool(sent_token(ex))
        if over_http and has_token and ex.response.ok and ex.kind in ("baseline", "plain-http"):
            accepted_http.append(ex)
    if accepted_http:
        # Prefer an endpoint that needs the token: there, the token really crossed in clear.
        needs = protected_endpoints(obs)
        first = next((ex for ex in accepted_http if ex.endpoint in needs), accepted_http[0])
        sev = Severity.INFO if is_loopback_url(first.request.url) else None
        evidence = [f"bearer token served over http:// ({len(accepted_http)} responses)"]
        if sev is Severity.INFO:
            evidence.append("target is loopback: informational; must be HTTPS when deployed")
        findings.append(make_finding("TV-TRN-001", first.endpoint, evidence, severity=sev))
    if loopback:
        return findings
    if target.https:
        missing = sorted(
            {
                ex.endpoint
                for ex in obs.answered()
                if ex.response is not None
                and urlsplit(ex.request.url).scheme == "https"
                and ex.response.header("strict-transport-security") is None
            }
        )
        if missing:
            findings.append(
                make_finding(
                    "TV-TRN-002",
                    missing[0],
                    [f"no Strict-Transport-Security header on {len(missing)} endpoints"],
                )
            )
        for ex in obs.probes("https-redirect"):
            location = (ex.response.header("location") or "") if ex.response else ""
            if ex.response is not None and not (
                300 <= ex.response.status < 400 and location.startswith("https://")
            ):
                findings.append(
                    make_finding(
                        "TV-TRN-002",
                        ex.endpoint,
                        [
                            f"http:// answered {ex.response.status} instead of redirecting to https://"
                        ],
                    )
                )
    else:
        findings.append(
            make_finding(
                "TV-TRN-002", "/", ["API served over plain http:// on a non-loopback host"]
            )
        )
    return findings


def check_query_token(obs: Observations) -> list[Finding]:
    """TV-TRN-003: the token in ``?access_token=`` (RFC 6750 §2.3) lands in logs and Referer."""
    refused = {
        ex.endpoint
        for ex in obs.probes("baseline")
        if ex.variant == "none" and ex.status in (401, 403)
    }
    items: dict[str, list[str]] = {}
    for ex in obs.probes("query-token"):
        if ex.endpoint in refused and ex.response is not None and ex.response.ok:
            items.setdefault(ex.endpoint, []).append(
                f"token in query parameter {ex.variant or 'access_token'} served with status "
                f"{ex.response.status}; refused without a token"
            )
    return [make_finding("TV-TRN-003", ep, ev) for ep, ev in sorted(items.items())]


def _carries_token(ex: Exchange) -> bool:
    body = json_body(ex)
    if body is None:
        return False
    for path, value in _walk_strings(body):
        leaf = path.rsplit(".", 1)[-1].lower()
        if looks_like_jwt(value) or (leaf.endswith("token") and len(value) >= 16):
            return True
    return False


def check_cache_control(obs: Observations) -> list[Finding]:
    """TV-TRN-004: a response carrying a token or PII without ``Cache-Control: no-store``
    (CWE-525: shared caches, proxies and the browser's back button keep it)."""
    items: dict[str, list[str]] = {}
    for ex in obs.answered():
        assert ex.response is not None
        if not ex.response.ok or ex.kind not in ("login", "refresh", "baseline", "introspect"):
            continue
        cache = ex.response.header("cache-control")
        if cache is not None and "no-store" in cache.lower():
            continue
        reasons = []
        if _carries_token(ex):
            reasons.append("a token")
        kinds = sorted({h.kind for h in _pii.in_body(ex.response.body) if not h.secret})
        if kinds:
            reasons.append(", ".join(kinds))
        if not reasons:
            continue
        shown = f"Cache-Control: {cache}" if cache is not None else "no Cache-Control header"
        bucket = items.setdefault(ex.endpoint, [])
        text = f"response carries {' and '.join(reasons)} with {shown}"
        if text not in bucket:
            bucket.append(text)
    return [make_finding("TV-TRN-004", ep, ev) for ep, ev in sorted(items.items())]


def parse_set_cookie(header: str) -> tuple[str, str, set[str], dict[str, str]] | None:
    """(name, value, flags, attributes) of one Set-Cookie header, attribute names lower-cased."""
    name_value, _, rest = header.partition(";")
    name, sep, value = name_value.partition("=")
    if not sep:
        return None
    flags: set[str] = set()
    attrs: dict[str, str] = {}
    for part in rest.split(";"):
        key, has_value, val = part.strip().partition("=")
        if not key:
            continue
        if has_value:
            attrs[key.lower()] = val.strip()
        else:
            flags.add(key.lower())
    try:
        SimpleCookie().load(f"{name.strip()}=x")
    except CookieError:
        return None
    return name.strip(), value.strip(), flags, attrs


def _is_token_cookie(name: str, value: str, known: set[str]) -> bool:
    lowered = name.lower()
    return value in known or looks_like_jwt(value) or any(h in lowered for h in _TOKEN_COOKIE_HINTS)


def check_cookies(obs: Observations) -> list[Finding]:
    """TV-TRN-005…008: flags of cookies that carry a token or a session."""
    known = {tok for ts in obs.target.tokens.values() for _, tok in ts.named()}
    known |= {v for ts in obs.target.tokens.values() for v in ts.cookies.values()}
    loopback_http = obs.target.loopback and not obs.target.https
    items: dict[tuple[str, str], list[str]] = {}
    for ex in obs.answered():
        assert ex.response is not None
        for header in ex.response.header_all("set-cookie"):
            parsed = parse_set_cookie(header)
            if parsed is None:
                continue
            name, value, flags, attrs = parsed
            if not value or not _is_token_cookie(name, value, known):
                continue
            if "secure" not in flags:
                items.setdefault(("TV-TRN-005", ex.endpoint), []).append(f"cookie {name}")
            if "httponly" not in flags:
                items.setdefault(("TV-TRN-006", ex.endpoint), []).append(f"cookie {name}")
            if "samesite" not in attrs or attrs["samesite"].lower() == "none":
                items.setdefault(("TV-TRN-007", ex.endpoint), []).append(f"cookie {name}")
            if not name.startswith("__Host-"):
                items.setdefault(("TV-TRN-008", ex.endpoint), []).append(f"cookie {name}")
    findings = []
    for (rule, endpoint), names in sorted(items.items()):
        sev = Severity.LOW if rule == "TV-TRN-005" and loopback_http else None
        findings.append(make_finding(rule, endpoint, sorted(set(names)), severity=sev))
    return findings
