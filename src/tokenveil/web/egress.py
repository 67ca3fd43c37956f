"""Egress filter: the last look at every response body for PII no model declared.

A pure ASGI middleware (streaming responses work). JSON bodies are scanned structure-aware
(keys are evidence, findings have JSON paths); text bodies as free text. Per app and per route:

* ``monitor``: one log line and one ``pii.egress`` security event per finding, naming the kind
  and the JSON path, never the value;
* ``mask``: findings replaced (valid JSON out, ``Content-Length`` fixed);
* ``block``: the response is replaced by a generic 500.

Whatever the mode, secrets are always masked: raw JWTs, bearer credentials, refresh tokens
(``tvr_...``), private keys, passwords, and any value under an ``access_token`` /
``refresh_token`` / ``id_token`` key, except on the token endpoint, whose job is to return
tokens (CWE-200, CWE-522). Paths the field policy revealed on purpose are not masked again.

Memory is bounded: a body is buffered up to ``max_buffer`` bytes; past that it is processed as
a stream, holding back only an overlap window so a value cut between chunks is still found.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenveil.logs._processors import REFRESH_TOKEN_PATTERN
from tokenveil.pii import Finding, Kind, Operator, Redact, find, find_in_object
from tokenveil.pii._finding import SECRET_KINDS
from tokenveil.store._protocols import SecurityEvent
from tokenveil.web.errors import _route_name, correlation_id, error_response
from tokenveil.web.fields import ALLOWED_PATHS_STATE_KEY, PRESENTED_STATE_KEY, _child

__all__ = ["EGRESS_ROUTE_KEY", "EgressFilter", "EgressMode", "egress_mode"]

logger = logging.getLogger("tokenveil.egress")

EgressMode = Literal["monitor", "mask", "block"]
Audit = Callable[[SecurityEvent], Awaitable[None]]
#: ``openapi_extra`` key a route sets to choose its own mode (see :func:`egress_mode`).
EGRESS_ROUTE_KEY = "x-tokenveil-egress"

_TOKEN_KEYS = frozenset({"access_token", "refresh_token", "id_token"})
_TOKEN_KINDS = frozenset({Kind.JWT, Kind.BEARER_TOKEN, "REFRESH_TOKEN"})
_ALWAYS = SECRET_KINDS | {"REFRESH_TOKEN"}
#: Byte strings one of which a JSON body must hold (lower-cased) for :func:`_secret_hits` to
#: find anything: the refresh-token prefix and the token keys. Valid only on pure-ASCII bodies
#: without backslash escapes, where the bytes spell the parsed strings exactly.
_SECRET_MARKERS = (b"tvr_", *(key.encode() for key in sorted(_TOKEN_KEYS)))
_OVERLAP = 16 * 1024
#: Headers whose values are protocol metadata, or (Set-Cookie) the token transport itself.
_UNSCANNED_HEADERS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"content-encoding",
        b"transfer-encoding",
        b"date",
        b"server",
        b"etag",
        b"last-modified",
        b"cache-control",
        b"pragma",
        b"vary",
        b"x-correlation-id",
        b"strict-transport-security",
        b"referrer-policy",
        b"x-content-type-options",
        b"www-authenticate",
        b"allow",
        b"retry-after",
        b"set-cookie",
        b"connection",
    }
)


def egress_mode(mode: EgressMode) -> dict[str, Any]:
    """``openapi_extra=egress_mode("monitor")`` on a route overrides the app's mode."""
    return {EGRESS_ROUTE_KEY: mode}


@dataclass(frozen=True, slots=True)
class _Hit:
    kind: str
    path: str | None
    start: int
    end: int


class EgressFilter:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        mode: EgressMode = "mask",
        routes: Mapping[str, EgressMode] | None = None,
        token_paths: Iterable[str] = ("/oauth/token",),
        exempt_paths: Iterable[str] = ("/.well-known/", "/openapi.json", "/docs", "/redoc"),
        operator: Operator | None = None,
        audit: Audit | None = None,
        max_buffer: int = 1024 * 1024,
        min_confidence: float = 0.5,
        ignore_kinds: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.mode = mode
        # Longest prefix first: the most specific route rule wins.
        self.routes = sorted((routes or {}).items(), key=lambda item: len(item[0]), reverse=True)
        self.token_paths = tuple(token_paths)
        self.exempt_paths = tuple(exempt_paths)
        self.operator: Operator = operator or Redact()
        self.audit = audit
        self.max_buffer = max_buffer
        self.min_confidence = min_confidence
        # Kinds an API legitimately returns (e.g. IP_ADDRESS on a sessions endpoint). Secrets
        # (tokens, keys, passwords) cannot be ignored.
        self.ignore_kinds = frozenset(ignore_kinds) - _ALWAYS
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(self.exempt_paths):
            await self.app(scope, receive, send)
            return
        response = _Response(self, scope, receive, send)
        await self.app(scope, receive, response.send)

    def mode_for(self, scope: Scope) -> EgressMode:
        route = scope.get("route")
        extra = getattr(route, "openapi_extra", None)
        if isinstance(extra, Mapping) and extra.get(EGRESS_ROUTE_KEY) in (
            "monitor",
            "mask",
            "block",
        ):
            mode: EgressMode = extra[EGRESS_ROUTE_KEY]
            return mode
        path = str(scope.get("path", ""))
        for prefix, configured in self.routes:
            if path.startswith(prefix):
                return configured
        return self.mode

    def is_token_endpoint(self, scope: Scope) -> bool:
        return str(scope.get("path", "")) in self.token_paths

    # --- scanning (sans-I/O) ------------------------------------------------------------------

    def scan_json(self, document: Any, raw: bytes | None = None) -> list[_Hit]:
        """Findings in the parsed ``document``; ``raw``, its body, lets the secret walk be
        skipped when the bytes cannot hold a refresh token or a token key."""
        # The parsed document, not the bytes: the body is parsed once.
        hits = [_hit(f) for f in find_in_object(document, min_confidence=self.min_confidence)]
        if raw is not None and not _may_hold_secret_keys(raw):
            return hits
        return _secret_hits(document, "$", hits)

    def scan_text(self, text: str) -> list[_Hit]:
        hits = [_hit(f) for f in find(text, min_confidence=self.min_confidence)]
        hits.extend(
            _Hit("REFRESH_TOKEN", None, m.start(), m.end())
            for m in REFRESH_TOKEN_PATTERN.finditer(text)
        )
        return hits


def _hit(finding: Finding) -> _Hit:
    return _Hit(finding.kind, finding.path, finding.start, finding.end)


def _may_hold_secret_keys(raw: bytes) -> bool:
    """False only when the JSON text ``raw`` surely holds no ``tvr_`` and no token key.

    A backslash escape (``tv\\u0072_``) or a non-ASCII character (the Kelvin sign lower-cases
    to ``k``) could spell one without the bytes showing it: such bodies are always walked.
    """
    if not raw.isascii() or b"\\" in raw:
        return True
    lowered = raw.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _secret_hits(node: Any, path: str, out: list[_Hit]) -> list[_Hit]:
    """One walk: whole values under token keys, and ``tvr_`` refresh tokens anywhere."""
    if isinstance(node, str):
        out.extend(
            _Hit("REFRESH_TOKEN", path, m.start(), m.end())
            for m in REFRESH_TOKEN_PATTERN.finditer(node)
        )
    elif isinstance(node, dict):
        for key, value in node.items():
            child = _child(path, str(key))
            if isinstance(key, str) and key.lower() in _TOKEN_KEYS and isinstance(value, str):
                if value:
                    out.append(_Hit(Kind.BEARER_TOKEN, child, 0, len(value)))
            else:
                _secret_hits(value, child, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _secret_hits(value, _child(path, index), out)
    return out


def _allowed(path: str | None, allowed: set[str]) -> bool:
    if path is None or not allowed:
        return False
    return any(
        path == prefix or path.startswith((prefix + ".", prefix + "[")) for prefix in allowed
    )


def _replace_spans(text: str, hits: list[_Hit], op: Operator) -> str | None:
    """``text`` with each hit replaced, overlapping hits merged; None when a span is dropped."""
    out: list[str] = []
    pos = 0
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if hit.end <= pos:
            continue
        start = max(hit.start, pos)
        replacement = op(text[start : hit.end], hit.kind)
        if replacement is None:
            return None
        out.append(text[pos:start])
        out.append(replacement)
        pos = hit.end
    out.append(text[pos:])
    return "".join(out)


_DROP = object()


def _mask_document(node: Any, path: str, by_path: dict[str, list[_Hit]], op: Operator) -> Any:
    if isinstance(node, dict):
        new: dict[str, Any] = {}
        for key, value in node.items():
            result = _mask_document(value, _child(path, str(key)), by_path, op)
            if result is not _DROP:
                new[key] = result
        return new
    if isinstance(node, list):
        items = [_mask_document(v, _child(path, i), by_path, op) for i, v in enumerate(node)]
        return [item for item in items if item is not _DROP]
    hits = by_path.get(path)
    if not hits or isinstance(node, bool) or node is None:
        return node
    text = node if isinstance(node, str) else json.dumps(node)
    masked = _replace_spans(text, hits, op)
    return _DROP if masked is None else masked


class _Response:
    """The state of one response going through the filter."""

    def __init__(self, owner: EgressFilter, scope: Scope, receive: Receive, send: Send) -> None:
        self.owner = owner
        self.scope = scope
        self.receive = receive
        self.downstream = send
        self.start: Message | None = None
        self.kind: Literal["json", "text", "skip"] = "skip"
        self.chunks: list[bytes] = []
        self.size = 0
        self.streaming = False
        self.carry = ""
        self.blocked = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            self.kind = self._kind_of(message)
            if not await self._filter_headers(message):
                self.kind = "json"  # blocked: the rest of the original body is swallowed
                return
            if self.kind == "skip":
                await self.downstream(message)
            return
        if self.blocked:
            return
        if message["type"] != "http.response.body" or self.kind == "skip":
            await self.downstream(message)
            return
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        if self.streaming:
            await self._stream(body, more)
            return
        self.chunks.append(body)
        self.size += len(body)
        if more and self.size <= self.owner.max_buffer:
            return
        if more:
            await self._begin_stream()
            return
        await self._finish_buffered(b"".join(self.chunks))

    async def _filter_headers(self, start: Message) -> bool:
        """Tokens and undeclared PII in header values (``Location``, debug headers...).

        Set-Cookie is left alone: cookies are the sanctioned way a token travels. Returns
        False when the response was blocked.
        """
        raw: list[tuple[bytes, bytes]] = list(start.get("headers", ()))
        to_mask: dict[int, list[_Hit]] = {}
        undeclared: list[_Hit] = []
        for index, (name, value) in enumerate(raw):
            if name.lower() in _UNSCANNED_HEADERS:
                continue
            text = value.decode("latin-1")
            found = [
                _Hit(h.kind, f"header:{name.decode('latin-1').lower()}", h.start, h.end)
                for h in self.owner.scan_text(text)
            ]
            secrets_, pii = self._classify(found)
            undeclared.extend(pii)
            if secrets_ or pii:
                to_mask[index] = secrets_ + pii
        if not to_mask:
            return True
        mode = self.owner.mode_for(self.scope)
        await self._report(undeclared, mode)
        if undeclared and mode == "block":
            await self._block()
            return False
        for index, hits in to_mask.items():
            name, value = raw[index]
            kept = hits if mode == "mask" else [h for h in hits if h.kind in _ALWAYS]
            if kept:
                text = _replace_spans(value.decode("latin-1"), kept, self.owner.operator) or ""
                raw[index] = (name, text.encode("latin-1", "replace"))
        start["headers"] = raw
        return True

    def _kind_of(self, start: Message) -> Literal["json", "text", "skip"]:
        encoding: bytes | None = None
        content_type: bytes | None = None
        for name, value in start.get("headers", ()):
            lowered = name.lower()
            if lowered == b"content-type":
                if content_type is None:  # the first one, as a header lookup reads it
                    content_type = value
            elif lowered == b"content-encoding" and encoding is None:
                encoding = value
        if encoding is not None and encoding != b"identity":
            logger.warning("egress: compressed body not scanned on %s", _route_name(self.scope))
            return "skip"
        ctype = (content_type or b"").decode("latin-1").split(";")[0].strip().lower()
        if ctype == "application/json" or ctype.endswith("+json"):
            return "json"
        if ctype.startswith("text/") or ctype in ("application/xml", "application/x-ndjson"):
            return "text"
        return "skip"

    # --- whole bodies ---------------------------------------------------------------------------

    async def _finish_buffered(self, raw: bytes) -> None:
        owner = self.owner
        document: Any = None
        is_json = False
        if self.kind == "json":
            presented = self.scope.get("state", {}).get(PRESENTED_STATE_KEY)
            if isinstance(presented, tuple) and presented[0] == raw:
                # Built by the field policy from this very document: no second parse.
                document, is_json = presented[1], True
            else:
                try:
                    document = json.loads(raw)
                    is_json = True
                except ValueError:
                    is_json = False
        if is_json:
            hits = owner.scan_json(document, raw)
        else:
            hits = owner.scan_text(raw.decode("utf-8", "replace"))
        to_mask, undeclared = self._classify(hits)
        mode = owner.mode_for(self.scope)
        await self._report(undeclared, mode)
        if undeclared and mode == "block":
            await self._block()
            return
        if mode == "mask":
            to_mask.extend(undeclared)
        if to_mask:
            if is_json:
                by_path: dict[str, list[_Hit]] = {}
                for hit in to_mask:
                    by_path.setdefault(hit.path or "$", []).append(hit)
                masked = _mask_document(document, "$", by_path, owner.operator)
                if masked is _DROP:
                    masked = None
                raw = json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode()
            else:
                text = _replace_spans(raw.decode("utf-8", "replace"), to_mask, owner.operator)
                raw = (text or "").encode()
            assert self.start is not None
            headers = MutableHeaders(scope=self.start)
            if "content-length" in headers:
                headers["content-length"] = str(len(raw))
        assert self.start is not None
        await self.downstream(self.start)
        await self.downstream({"type": "http.response.body", "body": raw, "more_body": False})

    def _classify(self, hits: list[_Hit]) -> tuple[list[_Hit], list[_Hit]]:
        """(always masked secrets, undeclared PII subject to the mode)."""
        allowed: set[str] = self.scope.get("state", {}).get(ALLOWED_PATHS_STATE_KEY) or set()
        token_endpoint = self.owner.is_token_endpoint(self.scope)
        secrets_: list[_Hit] = []
        undeclared: list[_Hit] = []
        for hit in hits:
            if hit.kind in _ALWAYS:
                if token_endpoint and hit.kind in _TOKEN_KINDS:
                    continue  # the token endpoint's job is to hand out tokens
                secrets_.append(hit)
            elif hit.kind not in self.owner.ignore_kinds and not _allowed(hit.path, allowed):
                undeclared.append(hit)
        return secrets_, undeclared

    async def _report(self, hits: list[_Hit], mode: EgressMode) -> None:
        if not hits:
            return
        route = _route_name(self.scope)
        cid = correlation_id(self.scope)
        seen: set[tuple[str, str | None]] = set()
        for hit in hits:
            if (hit.kind, hit.path) in seen:
                continue
            seen.add((hit.kind, hit.path))
            logger.warning(
                "egress: undeclared %s at %s on %s mode=%s correlation_id=%s",
                hit.kind,
                hit.path or "[text]",
                route,
                mode,
                cid,
            )
            if self.owner.audit is not None:
                try:
                    await self.owner.audit(
                        SecurityEvent(
                            kind="pii.egress",
                            at=self.owner.clock(),
                            details={
                                "kind": hit.kind,
                                "path": hit.path,
                                "route": route,
                                "mode": mode,
                                "correlation_id": cid,
                            },
                        )
                    )
                except Exception as exc:
                    logger.error("egress: audit failed (%s)", type(exc).__name__)

    async def _block(self) -> None:
        self.blocked = True
        response = error_response(
            self.scope,
            500,
            "server_error",
            description="The response was withheld.",
        )
        await response(self.scope, self.receive, self.downstream)

    # --- streams ----------------------------------------------------------------------------

    async def _begin_stream(self) -> None:
        """The body outgrew the buffer: send headers now and mask text as it flows."""
        self.streaming = True
        assert self.start is not None
        headers = MutableHeaders(scope=self.start)
        if "content-length" in headers:
            del headers["content-length"]  # masking changes the length: chunked from here
        await self.downstream(self.start)
        pending = b"".join(self.chunks)
        self.chunks = []
        await self._stream(pending, True)

    async def _stream(self, body: bytes, more: bool) -> None:
        self.carry += body.decode("utf-8", "replace")
        if more and len(self.carry) < 2 * _OVERLAP:
            return
        text = self.carry
        hits = self.owner.scan_text(text)
        cut = len(text) if not more else len(text) - _OVERLAP
        # A value crossing the cut waits for the next round, whole.
        for hit in hits:
            if hit.start < cut < hit.end:
                cut = hit.start
        settled = [h for h in hits if h.end <= cut]
        to_mask, undeclared = self._classify(settled)
        mode = self.owner.mode_for(self.scope)
        await self._report(undeclared, mode)
        if undeclared and mode == "block":
            # Headers are gone: stop the body short; the client sees a broken transfer.
            self.blocked = True
            logger.error("egress: streamed body cut short on %s", _route_name(self.scope))
            return
        if mode == "mask":
            to_mask.extend(undeclared)
        head = _replace_spans(text[:cut], to_mask, self.owner.operator) or ""
        self.carry = text[cut:]
        await self.downstream(
            {"type": "http.response.body", "body": head.encode(), "more_body": more}
        )
