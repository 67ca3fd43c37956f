"""PII exposure: personal data and tokens in responses, errors, debug routes and other users'
objects. Evidence names fields and kinds; values never leave the recorded exchange."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tokenveil.scan import _pii
from tokenveil.scan._catalog import make_finding
from tokenveil.scan._checks._base import Observations, json_body, sent_token
from tokenveil.scan._jose import decode_unverified
from tokenveil.scan._model import Exchange, Finding, Severity

__all__ = [
    "CONFIG_PATH",
    "DEBUG_PATH",
    "IDENTITY_PATH",
    "check_bola",
    "check_debug_endpoints",
    "check_error_leaks",
    "check_token_echo",
    "check_token_responses",
    "check_undeclared_pii",
    "declared_paths",
]

IDENTITY_PATH = re.compile(r"/(me|userinfo|profile|account|whoami)/?$", re.IGNORECASE)
#: Routes that are diagnostics by name, at the root or under one API prefix (/api, /v1...).
DEBUG_PATH = re.compile(
    r"^(GET |HEAD )?(/(api|v\d+|internal|_?private))?/(_?debug|__debug__|env|\.env|actuator"
    r"|phpinfo(\.php)?|server-info|server-status|trace|dump)(/|$)",
    re.IGNORECASE,
)
#: Names that are often ordinary resources (a user's settings): counted only when they dump
#: secret-looking keys.
CONFIG_PATH = re.compile(
    r"^(GET |HEAD )?(/(api|v\d+|internal|_?private))?/(config|settings)(/|$)", re.IGNORECASE
)
_STACK_TRACE = [
    ("Python traceback", re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line")),
    ("Java stack trace", re.compile(r"\bat [\w$.]+\([\w]+\.java:\d+\)|Exception in thread")),
    (".NET stack trace", re.compile(r"\bat [\w.]+\(.*\) in .*:line \d+")),
    ("Node.js stack trace", re.compile(r"\bat .+ \(/.+\.js:\d+:\d+\)")),
    ("PHP error", re.compile(r"(Fatal error|Warning|Notice): .+ in /.+ on line \d+")),
    ("Go panic", re.compile(r"goroutine \d+ \[running\]")),
]
#: Names that hold secrets in settings dumps (CWE-215, CWE-538): reported by name only.
_SECRET_NAME = re.compile(
    r"secret|passw|private|api_?key|token|credential|dsn|database_url", re.IGNORECASE
)


def _pii_hits(ex: Exchange) -> list[_pii.Hit]:
    if ex.response is None:
        return []
    return [h for h in _pii.in_body(ex.response.body) if not h.secret]


def _known_tokens(obs: Observations) -> list[tuple[str, str]]:
    out = []
    for tokens in obs.target.tokens.values():
        out.extend(tokens.named())
    return [(role, tok) for role, tok in out if len(tok) >= 16]


def _tokens_in(body: bytes, tokens: Iterable[tuple[str, str]]) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    return [role for role, tok in tokens if tok in text]


def _group(items: dict[str, list[str]], rule: str, sev: Severity | None = None) -> list[Finding]:
    return [make_finding(rule, ep, ev, severity=sev) for ep, ev in sorted(items.items()) if ev]


def _add(items: dict[str, list[str]], endpoint: str, text: str) -> None:
    bucket = items.setdefault(endpoint, [])
    if text not in bucket:
        bucket.append(text)


def check_token_responses(obs: Observations) -> list[Finding]:
    """TV-PII-001: PII in login, refresh and introspection answers (medium) and identity routes
    such as /me (low: expected there, but worth a data-minimisation review)."""
    token_items: dict[str, list[str]] = {}
    identity_items: dict[str, list[str]] = {}
    for ex in obs.answered():
        assert ex.response is not None
        if not ex.response.ok:
            continue
        if ex.kind in ("login", "refresh", "introspect"):
            for hit in _pii_hits(ex):
                _add(token_items, ex.endpoint, f"{ex.kind} response {hit.describe()}")
        elif ex.probe == "baseline:access" and IDENTITY_PATH.search(ex.endpoint):
            for hit in _pii_hits(ex):
                _add(identity_items, ex.endpoint, f"identity response {hit.describe()}")
    return _group(token_items, "TV-PII-001") + _group(identity_items, "TV-PII-001", Severity.LOW)


def _claims_echoed(body: Any, claims: dict[str, Any]) -> list[str]:
    """Claim names whose exact values reappear together in one JSON object of ``body``."""
    best: list[str] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            same = [k for k, v in claims.items() if k in node and node[k] == v]
            if len(same) > len(best):
                best = same
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(best) if len(best) >= 2 and any(k in best for k in ("exp", "iat", "jti")) else []


def check_token_echo(obs: Observations) -> list[Finding]:
    """TV-PII-002: a successful response that returns the raw token or its decoded claim set."""
    tokens = _known_tokens(obs)
    items: dict[str, list[str]] = {}
    for ex in obs.answered():
        assert ex.response is not None
        if not ex.response.ok or ex.kind in ("login", "refresh", "introspect", "discover"):
            continue
        for role in _tokens_in(ex.response.body, tokens):
            _add(items, ex.endpoint, f"response body contains the raw {role} token")
        for name, value in ex.response.headers:
            # Echoed in a header (X-Auth-Token, X-Debug-...): proxies and access logs keep it.
            if name.lower() != "set-cookie":
                for role in _tokens_in(value.encode(), tokens):
                    _add(
                        items, ex.endpoint, f"response header {name} contains the raw {role} token"
                    )
        body = json_body(ex)
        if body is None:
            continue
        for role, token in tokens:
            decoded = decode_unverified(token)
            if decoded is None:
                continue
            echoed = _claims_echoed(body, decoded[1])
            if echoed:
                _add(
                    items,
                    ex.endpoint,
                    f"response body contains the decoded {role} token claims: {', '.join(echoed)}",
                )
    return _group(items, "TV-PII-002")


def check_error_leaks(obs: Observations) -> list[Finding]:
    """TV-PII-003 (tokens or PII in error bodies) and TV-PII-004 (stack traces), CWE-209."""
    tokens = _known_tokens(obs)
    leaks: dict[str, list[str]] = {}
    traces: dict[str, list[str]] = {}
    for ex in obs.answered():
        assert ex.response is not None
        if ex.response.status < 400:
            continue
        body = ex.response.body
        for role in _tokens_in(body, tokens):
            _add(leaks, ex.endpoint, f"error {ex.response.status} body echoes the {role} token")
        raw = sent_token(ex)
        if len(raw) >= 16 and raw in body.decode("utf-8", errors="replace"):
            _add(
                leaks, ex.endpoint, f"error {ex.response.status} body echoes the token it was sent"
            )
        echoed = bool(leaks.get(ex.endpoint))
        for hit in _pii.in_body(body):
            if hit.secret and echoed:
                continue  # already reported, more precisely, as an echo
            what = "a token" if hit.secret else hit.describe()
            _add(leaks, ex.endpoint, f"error {ex.response.status} body contains {what}")
        text = body.decode("utf-8", errors="replace")
        for name, pattern in _STACK_TRACE:
            if pattern.search(text):
                _add(traces, ex.endpoint, f"error {ex.response.status} body contains a {name}")
    return _group(leaks, "TV-PII-003") + _group(traces, "TV-PII-004")


def declared_paths(schema: Any, path: str = "$", depth: int = 0) -> tuple[set[str], set[str]]:
    """(declared JSON paths, open prefixes) of a response schema; arrays are ``[*]``. A prefix is
    open when the schema allows arbitrary members there (no properties, additionalProperties)."""
    declared: set[str] = set()
    open_: set[str] = set()
    if not isinstance(schema, dict) or depth > 12:
        open_.add(path)
        return declared, open_
    for combo in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(combo, []) or []:
            d, o = declared_paths(sub, path, depth + 1)
            declared |= d
            open_ |= o
    props = schema.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            child = f"{path}.{name}"
            declared.add(child)
            d, o = declared_paths(sub, child, depth + 1)
            declared |= d
            open_ |= o
    if "items" in schema:
        d, o = declared_paths(schema["items"], f"{path}[*]", depth + 1)
        declared |= d | {f"{path}[*]"}
        open_ |= o
    extra = schema.get("additionalProperties")
    kind = schema.get("type")
    if extra not in (None, False) or (
        not props
        and "items" not in schema
        and kind in (None, "object")
        and not any(c in schema for c in ("allOf", "anyOf", "oneOf"))
    ):
        open_.add(path)
    return declared, open_


_INDEX = re.compile(r"\[\d+\]")


def check_undeclared_pii(obs: Observations) -> list[Finding]:
    """TV-PII-005: PII at a JSON path the endpoint's OpenAPI response schema does not declare."""
    schemas = {e.key: e.response_schema for e in obs.target.endpoints if e.response_schema}
    items: dict[str, list[str]] = {}
    for ex in obs.probes("baseline"):
        schema = schemas.get(ex.endpoint)
        if schema is None or ex.response is None or not ex.response.ok:
            continue
        declared, open_ = declared_paths(schema)
        for hit in _pii_hits(ex):
            if hit.path is None:
                continue
            path = _INDEX.sub("[*]", hit.path)
            if path in declared or any(
                path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in open_
            ):
                continue
            _add(items, ex.endpoint, f"undeclared field {path}: {hit.kind}")
    return _group(items, "TV-PII-005")


def _identifiers(obs: Observations, user: str) -> set[str]:
    """Values that identify ``user``: the ``sub`` of their access token."""
    tokens = obs.target.tokens.get(user)
    if tokens is None or tokens.access is None:
        return set()
    decoded = decode_unverified(tokens.access)
    if decoded is None or "sub" not in decoded[1]:
        return set()
    return {str(decoded[1]["sub"])}


def check_bola(obs: Observations) -> list[Finding]:
    """TV-PII-006: user 1's token reads an object that belongs to user 2 (CWE-639).

    ``bola:ref`` is user 2 reading their own object, ``bola:cross`` user 1 reading the same URL;
    the same 2xx body (or user 2's subject and no trace of user 1's) proves the cross read.
    """
    refs = {ex.request.url: ex for ex in obs.probes("bola") if ex.variant == "ref"}
    user1 = _identifiers(obs, "user1")
    user2 = _identifiers(obs, "user2")
    items: dict[str, list[str]] = {}
    for ex in obs.probes("bola"):
        if ex.variant != "cross" or ex.response is None or not ex.response.ok:
            continue
        ref = refs.get(ex.request.url)
        if ref is None or ref.response is None or not ref.response.ok:
            continue
        text = ex.response.text
        same = ex.response.body == ref.response.body
        owned_by_2 = any(v in text for v in user2) and not any(v in text for v in user1)
        if same or owned_by_2:
            kinds = sorted({h.kind for h in _pii_hits(ex)})
            detail = f" exposing {', '.join(kinds)}" if kinds else ""
            _add(
                items,
                ex.endpoint,
                f"user 1's token read user 2's object (status {ex.response.status}){detail}",
            )
    return _group(items, "TV-PII-006")


def check_debug_endpoints(obs: Observations) -> list[Finding]:
    """TV-PII-007: a debug or diagnostics route answers 2xx (critical when it dumps secrets)."""
    items: dict[str, list[str]] = {}
    critical: set[str] = set()
    for ex in obs.probes("baseline"):
        if ex.response is None or not ex.response.ok or not ex.response.body:
            continue
        named_debug = bool(DEBUG_PATH.search(ex.endpoint))
        names = sorted(_secret_names(json_body(ex)))
        if not named_debug and not (names and CONFIG_PATH.search(ex.endpoint)):
            continue
        who = "without a token" if ex.variant == "none" else "with an ordinary user's token"
        _add(items, ex.endpoint, f"answers {ex.response.status} {who}")
        if names:
            critical.add(ex.endpoint)
            _add(items, ex.endpoint, f"dumps secret-looking settings: {', '.join(names[:8])}")
        kinds = sorted({h.kind for h in _pii.in_body(ex.response.body)})
        if kinds:
            _add(items, ex.endpoint, f"contains {', '.join(kinds)}")
    return [
        make_finding("TV-PII-007", ep, ev, severity=Severity.CRITICAL if ep in critical else None)
        for ep, ev in sorted(items.items())
    ]


def _secret_names(body: Any) -> set[str]:
    names: set[str] = set()
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and value and _SECRET_NAME.search(str(key)):
                    names.add(str(key))
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return names
