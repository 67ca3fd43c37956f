"""Leak harness: prove that an ASGI app does not leak PII or tokens, for app developers' tests.

Seed unique canaries (an email, a phone number, a name, a card number, a password, an access
token and a refresh token that appear nowhere else), drive every route of the app with them
(path and query parameters, JSON bodies, malformed bodies, ``Authorization`` headers, tokens in
the query string) plus your own flows, capture every log record, response body and header and
the files you name, and fail if a canary shows up where it must not::

    async def login_flow(h: LeakHarness) -> None:
        r = await h.request("POST", "/oauth/token", data={...}, allow={"access_token"})
        h.watch("issued_access_token", r.json()["access_token"])

    async def test_no_leaks() -> None:
        async with LeakHarness(app, files={db_path: {"email"}}) as harness:
            report = await harness.run(login_flow)
        report.assert_clean()

Failures name the channel, the place and the canary kind; never the value (CWE-532 applies to
test logs too). Logs are captured with :func:`tokenveil.logs.capture_logs`; uvicorn's access
and error logs are emulated from the very scope the app saw, as the real server writes them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenveil import logs
from tokenveil.web.fields import iter_api_routes

__all__ = ["Canaries", "Flow", "Leak", "LeakHarness", "LeakReport"]

Flow = Callable[["LeakHarness"], Awaitable[None]]

_SYLLABLES = ("zor", "vath", "quil", "bren", "nix", "tal", "orp", "wex", "dru", "mab", "yel")
#: Loggers of the harness's own HTTP client: they log the URLs the harness itself sends.
_OWN_LOGGERS = frozenset({"httpx", "httpcore", "hpack"})
_ROUTE_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_SKIP_PATHS = ("/openapi.json", "/docs", "/redoc")
_NAME_HINTS = (
    ("refresh", "refresh_token"),
    ("token", "access_token"),
    ("pass", "password"),
    ("secret", "password"),
    ("mail", "email"),
    ("phone", "phone"),
    ("card", "card"),
    ("name", "name"),
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _luhn_complete(prefix: str) -> str:
    digits = [int(c) for c in prefix]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return prefix + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Canaries:
    """Unique fake personal data and secrets. ``repr`` shows kinds only."""

    email: str
    phone: str
    name: str
    card: str
    password: str
    access_token: str
    refresh_token: str

    def __repr__(self) -> str:
        return f"Canaries(kinds={sorted(self.values())})"

    def values(self) -> dict[str, str]:
        """Kind → value."""
        return {
            "email": self.email,
            "phone": self.phone,
            "name": self.name,
            "card": self.card,
            "password": self.password,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        }

    @classmethod
    def generate(cls, rng: random.Random | None = None) -> Canaries:
        """Fresh canaries; each valid enough for detectors (Luhn card, real mobile range)."""
        rnd = rng or random.SystemRandom()

        def word(n: int) -> str:
            return "".join(rnd.choice(_SYLLABLES) for _ in range(n))

        tag = "".join(rnd.choice("0123456789abcdef") for _ in range(6))
        # French mobile numbers (+33 6/7, 8 more digits) are valid for libphonenumber.
        pairs = " ".join(f"{rnd.randrange(100):02d}" for _ in range(4))
        card = _luhn_complete("4" + "".join(str(rnd.randrange(10)) for _ in range(14)))
        header = _b64(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": "canary"}).encode())
        payload = _b64(json.dumps({"sub": f"canary-{tag}", "jti": tag}).encode())
        return cls(
            email=f"{word(2)}.{tag}@canary-{word(1)}.example",
            phone=f"+33 6 {rnd.randrange(10, 100)} {pairs}"[:17],
            name=f"{word(2).capitalize()} {word(3).capitalize()}",
            card=" ".join(card[i : i + 4] for i in range(0, 16, 4)),
            password=f"Cnry-{secrets.token_urlsafe(12)}",
            access_token=f"{header}.{payload}.{_b64(secrets.token_bytes(64))}",
            refresh_token="tvr_" + secrets.token_urlsafe(32),
        )


@dataclass(frozen=True, slots=True)
class Leak:
    """One canary found where it must not be. Holds no value."""

    channel: str
    where: str
    kind: str

    def __str__(self) -> str:
        return f"canary {self.kind} leaked in {self.channel} ({self.where})"


@dataclass(frozen=True)
class LeakReport:
    leaks: tuple[Leak, ...]
    requests: int
    log_records: int

    def assert_clean(self) -> None:
        """Raise :class:`AssertionError` listing every leak (kinds and places only)."""
        if self.leaks:
            lines = "\n".join(f"  - {leak}" for leak in self.leaks)
            raise AssertionError(f"{len(self.leaks)} leak(s):\n{lines}")

    def kinds_in(self, channel: str) -> set[str]:
        return {leak.kind for leak in self.leaks if leak.channel == channel}


@dataclass
class _Exchange:
    where: str
    status: int
    headers: str
    body: str
    allow: frozenset[str]


@dataclass
class _Watched:
    kind: str
    variants: tuple[str, ...]


def _variants(kind: str, value: str) -> tuple[str, ...]:
    out = {value, value.lower(), quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    digits = "".join(ch for ch in value if ch.isdigit())
    if kind in ("phone", "card") and len(digits) >= 8:
        out.add(digits)
        out.add(value.replace(" ", ""))
    return tuple(v for v in out if len(v) >= 6)


class LeakHarness:
    """Drives an ASGI app with canaries and reports every place one leaked. See module doc."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        canaries: Canaries | None = None,
        base_url: str = "https://testserver",
        client: tuple[str, int] = ("127.0.0.1", 50000),
        files: Mapping[str | Path, Collection[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        lifespan: bool = True,
    ) -> None:
        self.app = app
        self.canaries = canaries or Canaries.generate()
        self.files = {Path(p): frozenset(kinds) for p, kinds in (files or {}).items()}
        self.default_headers = dict(headers or {})
        self._watched = [_Watched(k, _variants(k, v)) for k, v in self.canaries.values().items()]
        self._exchanges: list[_Exchange] = []
        self._log_entries: list[logs.CapturedLog] = []
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=self._emulated_server, raise_app_exceptions=False, client=client
            ),
            base_url=base_url,
            follow_redirects=False,
        )
        self._lifespan = lifespan
        self._stack = contextlib.AsyncExitStack()

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> LeakHarness:
        self._log_entries = self._stack.enter_context(logs.capture_logs())
        if self._lifespan and isinstance(self.app, FastAPI):
            await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))
        await self._stack.enter_async_context(self._client)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    # --- what a flow uses ---------------------------------------------------------------------

    def watch(self, kind: str, value: str) -> None:
        """Also look for ``value`` (e.g. a token a flow received) in every channel."""
        if value:
            self._watched.append(_Watched(kind, _variants(kind, value)))

    async def request(
        self,
        method: str,
        url: str,
        *,
        allow: Iterable[str] = (),
        where: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; its response may contain the canary kinds in ``allow``."""
        headers = {**self.default_headers, **dict(kwargs.pop("headers", None) or {})}
        response = await self._client.request(method, url, headers=headers, **kwargs)
        header_text = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self._exchanges.append(
            _Exchange(
                where or f"{method} {self._scrub(url)} → {response.status_code}",
                response.status_code,
                header_text,
                response.content.decode("utf-8", "replace"),
                frozenset(allow),
            )
        )
        return response

    async def drive_routes(self) -> int:
        """Call every API route with canaries in path, query, headers and body; returns count."""
        if not isinstance(self.app, FastAPI):
            return 0
        values = list(self.canaries.values().values())
        bearer = {"Authorization": f"Bearer {self.canaries.access_token}"}
        count = 0
        for template, methods, route in iter_api_routes(self.app):
            if template.startswith(_SKIP_PATHS):
                continue
            params = iter(values * 4)
            path = _ROUTE_PARAM.sub(_filler(params), template)
            query = {
                p.alias: self._value_for(p.alias, params) for p in route.dependant.query_params
            }
            body_fields = _body_fields(route)
            for method in sorted(methods):
                where = f"{method} {template}"
                await self.request(method, path, where=where, params=query, headers=bearer)
                if method in ("POST", "PUT", "PATCH"):
                    await self._drive_bodies(method, path, where, body_fields, params, bearer)
                await self.request(
                    method,
                    path,
                    where=f"{where} (token in query)",
                    params={"access_token": self.canaries.access_token},
                )
                count += 1
        return count

    async def _drive_bodies(
        self,
        method: str,
        path: str,
        where: str,
        fields: list[tuple[str, Any]],
        params: Iterator[str],
        headers: dict[str, str],
    ) -> None:
        """A well-typed body (reaches the handler), an all-strings one (422), a broken one."""
        typed = {
            name: _typed_value(annotation)
            if _typed_value(annotation) is not None
            else self._value_for(name, params)
            for name, annotation in fields
        }
        strings = {name: self._value_for(name, params) for name, _ in fields} or {
            "email": self.canaries.email,
            "password": self.canaries.password,
        }
        await self.request(method, path, where=f"{where} (body)", json=typed, headers=headers)
        await self.request(
            method, path, where=f"{where} (invalid body)", json=strings, headers=headers
        )
        broken = f'{{"email": "{self.canaries.email}", "password": "{self.canaries.password}'
        await self.request(
            method,
            path,
            where=f"{where} (malformed body)",
            content=broken.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )

    def _value_for(self, name: str, fallback: Iterator[str]) -> str:
        """The canary a field of that name would hold (``password`` gets the password)."""
        lowered = name.lower()
        for hint, kind in _NAME_HINTS:
            if hint in lowered:
                return self.canaries.values()[kind]
        return next(fallback)

    async def run(self, *flows: Flow, drive_routes: bool = True) -> LeakReport:
        """Drive every route (unless told not to), run the flows, then look for canaries."""
        if drive_routes:
            await self.drive_routes()
        for flow in flows:
            await flow(self)
        return self.report()

    # --- detection ----------------------------------------------------------------------------

    def report(self) -> LeakReport:
        leaks: list[Leak] = []
        for exchange in self._exchanges:
            for kind in self._found(exchange.body):
                if kind not in exchange.allow:
                    leaks.append(Leak("response.body", exchange.where, kind))
            for kind in self._found(exchange.headers):
                leaks.append(Leak("response.header", exchange.where, kind))
        entries = [e for e in self._log_entries if e.logger.split(".")[0] not in _OWN_LOGGERS]
        for entry in entries:
            for kind in self._found(entry.text):
                leaks.append(Leak("log", f"{entry.logger} {entry.level}", kind))
        for path, allowed in self.files.items():
            for file in sorted(path.parent.glob(path.name + "*")) if path.parent.exists() else ():
                # SQLite keeps recent writes in -wal / -journal files next to the database.
                text = file.read_bytes().decode("latin-1")
                for kind in self._found(text):
                    if kind not in allowed:
                        leaks.append(Leak("file", file.name, kind))
        unique = tuple(dict.fromkeys(leaks))
        return LeakReport(unique, len(self._exchanges), len(entries))

    def _found(self, haystack: str) -> list[str]:
        if not haystack:
            return []
        return list(
            dict.fromkeys(w.kind for w in self._watched if any(v in haystack for v in w.variants))
        )

    def _scrub(self, text: str) -> str:
        for watched in self._watched:
            for variant in watched.variants:
                text = text.replace(variant, f"<{watched.kind}>")
        return text

    # --- the emulated server --------------------------------------------------------------------

    async def _emulated_server(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, plus the two log lines uvicorn writes around it, from the same scope."""
        status = 500

        async def tracking(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            logging.getLogger("uvicorn.error").error(
                "Exception in ASGI application\n", exc_info=exc
            )
            raise
        finally:
            if scope["type"] == "http":
                query = bytes(scope.get("query_string", b"")).decode("latin-1")
                full_path = scope.get("path", "") + (f"?{query}" if query else "")
                client = scope.get("client") or ("-", 0)
                logging.getLogger("uvicorn.access").info(
                    '%s - "%s %s HTTP/%s" %d',
                    f"{client[0]}:{client[1]}",
                    scope.get("method", ""),
                    full_path,
                    scope.get("http_version", "1.1"),
                    status,
                )


def _filler(values: Iterator[str]) -> Callable[[re.Match[str]], str]:
    return lambda _match: quote(next(values), safe="")


def _body_fields(route: APIRoute) -> list[tuple[str, Any]]:
    """(name, annotation) of the JSON body's fields, when the body is one model."""
    body = route.body_field
    if body is None:
        return []
    annotation = getattr(body.field_info, "annotation", None)
    fields = getattr(annotation, "model_fields", None)
    if isinstance(fields, dict):
        return [(str(name), info.annotation) for name, info in fields.items()]
    return [(body.name, annotation)]


def _typed_value(annotation: Any) -> Any:
    """A valid value for non-string fields; None where a canary string fits."""
    if annotation is bool:
        return True
    if annotation in (int, float):
        return 1
    return None
