"""The scan plan: which requests to send, in which order, and how to turn them into findings.

Phases, each bounded by the driver's budget: discover (OpenAPI, RFC 8414 metadata, JWKS) → log in
→ baseline (every GET with and without a token) → forged tokens on each protected endpoint →
token in the query string → provoked errors → BOLA with the second user → refresh → (with
``active``) revocation. Whatever was recorded when the budget runs out or the user presses Ctrl-C
is analysed all the same: the report then says it is partial.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tokenveil.scan import _jose
from tokenveil.scan._checks import Observations, analyse
from tokenveil.scan._checks._base import json_body, protected_endpoints
from tokenveil.scan._discovery import (
    COMMON_PATHS,
    DEBUG_PATHS,
    METADATA_PATHS,
    OPENAPI_PATHS,
    endpoints_from_openapi,
    fill_template,
    tokens_from_response,
)
from tokenveil.scan._driver import (
    BudgetExhausted,
    Driver,
    OnRequest,
    ScanError,
    TargetUnreachable,
)
from tokenveil.scan._model import Endpoint, Exchange, ScanResult, Target, TokenSet

__all__ = ["ScanOptions", "Scanner"]

#: Forged-token probes go to at most this many protected endpoints (each costs ~20 requests).
MAX_FORGE_ENDPOINTS = 12
_LOGOUT = re.compile(r"log-?out|sign-?out", re.IGNORECASE)
_ID_KEYS = ("id", "user_id", "userId", "uuid", "sub", "account_id", "username")


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What the user asked for. Secrets are kept out of ``repr``."""

    url: str
    openapi: str | None = None
    token: str | None = field(default=None, repr=False)
    expired_token: str | None = field(default=None, repr=False)
    login_url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    second_username: str | None = None
    second_password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    max_requests: int = 300
    rate: float = 10.0
    active: bool = False
    timeout: float = 10.0


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Scanner:
    """One scan of one target. ``client`` is injectable (tests pass an ASGI or mock transport)."""

    def __init__(
        self,
        options: ScanOptions,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        on_request: OnRequest | None = None,
    ) -> None:
        parts = urlsplit(options.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ScanError("the target must be an http:// or https:// URL")
        self.options = options
        self.target = Target(base_url=options.url.rstrip("/"))
        self._client = client
        self._clock = clock
        self._started = clock()
        origins = {_origin(options.url)}
        if parts.scheme == "https":
            origins.add(_origin(f"http://{parts.netloc}"))
        for extra in (options.login_url, options.openapi):
            if extra and extra.startswith(("http://", "https://")):
                origins.add(_origin(extra))
        self._origins = origins
        self._on_request = on_request
        self.driver: Driver | None = None
        self.notes: list[str] = []
        self.complete = False

    # -- public ----------------------------------------------------------------------------------

    async def run(self) -> ScanResult:
        """Run every phase; a spent budget ends the scan early with a partial report."""
        client = self._client or httpx.AsyncClient(timeout=self.options.timeout, verify=True)
        try:
            self.driver = Driver(
                client,
                allowed_origins=self._origins,
                max_requests=self.options.max_requests,
                rate=self.options.rate,
                active=self.options.active,
                on_request=self._on_request,
            )
            try:
                await self._phases()
                self.complete = True
            except BudgetExhausted:
                self.notes.append(
                    f"request budget ({self.options.max_requests}) spent: the scan is partial"
                )
        finally:
            if self._client is None:
                await client.aclose()
        return self.result()

    def result(self, *, interrupted: bool = False) -> ScanResult:
        """Analyse whatever has been recorded so far (also after Ctrl-C)."""
        if interrupted:
            self.complete = False
            self.notes.append("interrupted: the scan is partial")
        exchanges = tuple(self.driver.exchanges) if self.driver else ()
        obs = Observations(self.target, exchanges, self._clock())
        return ScanResult(
            target=self.target.base_url,
            findings=analyse(obs),
            requests=len(exchanges),
            complete=self.complete,
            notes=list(self.notes),
            started_at=datetime.fromtimestamp(self._started, UTC).isoformat(timespec="seconds"),
            duration=round(self._clock() - self._started, 3),
        )

    # -- phases ----------------------------------------------------------------------------------

    async def _phases(self) -> None:
        await self._reach()
        await self._discover()
        await self._authenticate()
        await self._baseline()
        protected = self._protected()
        await self._forge(protected)
        await self._query_token(protected)
        await self._provoke_errors(protected)
        await self._bola()
        await self._transport(protected)
        await self._refresh()
        await self._introspect()
        await self._revoke(protected)

    @property
    def _d(self) -> Driver:
        assert self.driver is not None
        return self.driver

    def _url(self, path: str) -> str:
        return urljoin(self.target.base_url + "/", path.lstrip("/"))

    async def _get(
        self, probe: str, endpoint: str, url: str, *, token: str | None = None, user: str = "user1"
    ) -> Exchange:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return await self._d.send(probe, endpoint, "GET", url, headers=headers, user=user)

    async def _reach(self) -> None:
        first = await self._get("discover", "GET /", self._url("/"))
        if first.error is not None:
            raise TargetUnreachable(f"cannot reach {self.target.base_url} ({first.error})")

    async def _discover(self) -> None:
        doc = await self._openapi()
        if doc is not None:
            self.target.openapi = doc
            self.target.endpoints = endpoints_from_openapi(doc)
        declared = {e.template for e in self.target.endpoints}
        extra = DEBUG_PATHS if doc is not None else COMMON_PATHS
        for path in extra:
            if path not in declared:
                self.target.endpoints.append(Endpoint("GET", path, path))
        for path in METADATA_PATHS:
            ex = await self._get("metadata", f"GET {path}", self._url(path))
            body = json_body(ex)
            if ex.response is not None and ex.response.ok and isinstance(body, dict):
                self.target.metadata = body
                break
        jwks_url = str(self.target.metadata.get("jwks_uri") or self._url("/.well-known/jwks.json"))
        if self._d.allows(jwks_url):
            ex = await self._get("jwks", "GET " + urlsplit(jwks_url).path, jwks_url)
            body = json_body(ex)
            if ex.response is not None and ex.response.ok and isinstance(body, dict):
                self.target.jwks = body
        token_endpoint = self.target.metadata.get("token_endpoint")
        self.target.token_endpoint = self.options.login_url or (
            str(token_endpoint) if token_endpoint else None
        )

    async def _openapi(self) -> dict[str, Any] | None:
        given = self.options.openapi
        if given and not given.startswith(("http://", "https://")):
            try:
                # A local file read once at start-up: not worth a thread.
                loaded = json.loads(Path(given).read_text("utf-8"))  # noqa: ASYNC240
            except (OSError, ValueError) as exc:
                raise ScanError(f"cannot read the OpenAPI file {given}") from exc
            return loaded if isinstance(loaded, dict) else None
        candidates = [given] if given else [self._url(p) for p in OPENAPI_PATHS]
        for url in candidates:
            assert url is not None
            ex = await self._get("discover", f"GET {urlsplit(url).path}", url)
            body = json_body(ex)
            if (
                ex.response is not None
                and ex.response.ok
                and isinstance(body, dict)
                and ("paths" in body)
            ):
                return body
        if given:
            raise ScanError(f"no OpenAPI document at {given}")
        return None

    async def _authenticate(self) -> None:
        opts = self.options
        if opts.token:
            self.target.tokens["user1"] = TokenSet(access=opts.token)
        if opts.login_url and opts.username and opts.password is not None:
            self.target.login_url = opts.login_url
            self.target.tokens["user1"] = await self._login("user1", opts.username, opts.password)
        if opts.login_url and opts.second_username and opts.second_password is not None:
            self.target.tokens["user2"] = await self._login(
                "user2", opts.second_username, opts.second_password
            )

    async def _login(self, user: str, username: str, password: str) -> TokenSet:
        url = self.options.login_url
        assert url is not None
        fields = {"grant_type": "password", "username": username, "password": password}
        if self.options.client_id:
            fields["client_id"] = self.options.client_id
        endpoint = f"POST {urlsplit(url).path}"
        ex = await self._d.send(
            "login", endpoint, "POST", url, data=fields, user=user, sanctioned=True
        )
        if ex.response is None or not ex.response.ok:
            ex = await self._d.send(
                "login", endpoint, "POST", url, json=fields, user=user, sanctioned=True
            )
        if ex.error is not None:
            raise TargetUnreachable(f"cannot reach the login URL ({ex.error})")
        assert ex.response is not None
        if not ex.response.ok:
            raise ScanError(f"login failed for {user} (HTTP {ex.response.status})")
        tokens = tokens_from_response(json_body(ex), ex.response)
        if tokens.access is None:
            raise ScanError(f"the login answer for {user} carried no token")
        return tokens

    def _access(self, user: str = "user1") -> str | None:
        tokens = self.target.tokens.get(user)
        return tokens.access if tokens else None

    async def _baseline(self) -> None:
        token = self._access()
        for endpoint in self.target.endpoints:
            if endpoint.method != "GET":
                continue
            url = self._url(endpoint.path)
            await self._get("baseline:none", endpoint.key, url)
            if token is not None:
                await self._get("baseline:access", endpoint.key, url, token=token)

    def _observations(self) -> Observations:
        return Observations(self.target, tuple(self._d.exchanges), self._clock())

    def _protected(self) -> list[Endpoint]:
        keys = protected_endpoints(self._observations())
        return [e for e in self.target.endpoints if e.key in keys and e.method == "GET"]

    def _forgeries(self) -> list[_jose.Forgery]:
        token = self._access()
        if token is None or _jose.decode_unverified(token) is None:
            return []
        attacker = ec.generate_private_key(ec.SECP256R1())  # fresh per scan, never stored
        forged = [
            *_jose.tampered(token),
            *_jose.alg_none_variants(token),
            *_jose.key_confusion(token, self.target.jwks),
            *_jose.embedded_jwk(token, attacker),
            *_jose.key_url_headers(token, attacker),
            *_jose.kid_injection(token),
            *_jose.ecdsa_zero_signature(token)[:1],
        ]
        secret = _jose.guess_hmac_secret(token, _jose.load_wordlist())
        self.target.guessed_secret = secret
        now = int(self._clock())
        if secret is not None:
            # With the secret in hand, claim checks can be tested one at a time.
            forged.append(
                _jose.Forgery(
                    "expired",
                    "resigned",
                    _jose.resign(
                        token,
                        secret,
                        claims={"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
                    ),
                )
            )
            forged.append(
                _jose.Forgery(
                    "claims",
                    "aud",
                    _jose.resign(
                        token, secret, claims={"aud": "https://tokenveil-scanner.invalid/other-api"}
                    ),
                )
            )
            forged.append(
                _jose.Forgery(
                    "claims",
                    "iss",
                    _jose.resign(
                        token, secret, claims={"iss": "https://tokenveil-scanner.invalid/"}
                    ),
                )
            )
        if self.options.expired_token:
            forged.append(_jose.Forgery("expired", "supplied", self.options.expired_token))
        refresh = self.target.tokens["user1"].refresh if "user1" in self.target.tokens else None
        if refresh:
            forged.append(_jose.Forgery("refresh-as-access", "bearer", refresh))
        return forged

    async def _forge(self, protected: list[Endpoint]) -> None:
        forged = self._forgeries()
        for endpoint in protected[:MAX_FORGE_ENDPOINTS]:
            url = self._url(endpoint.path)
            for f in forged:
                await self._get(f"forge:{f.attack}:{f.variant}", endpoint.key, url, token=f.token)

    async def _query_token(self, protected: list[Endpoint]) -> None:
        token = self._access()
        if token is None:
            return
        for endpoint in protected[:MAX_FORGE_ENDPOINTS]:
            url = self._url(endpoint.path)
            sep = "&" if "?" in url else "?"
            await self._get(
                "query-token:access_token",
                endpoint.key,
                f"{url}{sep}{urlencode({'access_token': token})}",
            )

    async def _provoke_errors(self, protected: list[Endpoint]) -> None:
        token = self._access()
        malformed = {"garbage": "not-a-jwt", "three-dots": "a.b.c", "bad-base64": "eyJ!.eyJ!.x"}
        if token is not None:
            # A truncated real token: a server that echoes what it could not parse shows it here.
            malformed["truncated"] = token[:-8]
        for endpoint in protected[:5]:
            url = self._url(endpoint.path)
            for name, value in malformed.items():
                await self._get(f"error:{name}", endpoint.key, url, token=value)
        templated = [e for e in self.target.endpoints if e.params and e.method == "GET"]
        for endpoint in templated[:6]:
            for name, value in (("quote", "1'\"<>"), ("negative", "-1"), ("huge", "9" * 40)):
                url = self._url(
                    fill_template(endpoint.template, dict.fromkeys(endpoint.params, value))
                )
                await self._get(f"error:{name}", endpoint.key, url, token=token)

    def _ids_of(self, user: str) -> list[str]:
        """Values that may name ``user``'s objects: their ``sub`` and id-like fields they saw."""
        values: list[str] = []
        token = self._access(user)
        decoded = _jose.decode_unverified(token) if token else None
        if decoded is not None and "sub" in decoded[1]:
            values.append(str(decoded[1]["sub"]))
        for ex in self._d.exchanges:
            if ex.user != user or ex.probe not in ("baseline:access", "bola:identity"):
                continue
            body = json_body(ex)
            if isinstance(body, dict):
                values.extend(str(body[k]) for k in _ID_KEYS if isinstance(body.get(k), int | str))
        return list(dict.fromkeys(v for v in values if v))[:4]

    async def _bola(self) -> None:
        token1, token2 = self._access("user1"), self._access("user2")
        if token1 is None or token2 is None:
            return
        identity = [
            e
            for e in self.target.endpoints
            if e.method == "GET" and not e.params and e.template.endswith(("/me", "/profile"))
        ]
        for endpoint in identity[:3]:
            await self._get(
                "bola:identity", endpoint.key, self._url(endpoint.path), token=token2, user="user2"
            )
        ids = self._ids_of("user2")
        mine = set(self._ids_of("user1"))
        templated = [e for e in self.target.endpoints if e.params and e.method == "GET"]
        for endpoint in templated[:10]:
            for value in ids:
                if value in mine:
                    continue
                url = self._url(
                    fill_template(endpoint.template, dict.fromkeys(endpoint.params, value))
                )
                ref = await self._get("bola:ref", endpoint.key, url, token=token2, user="user2")
                if ref.response is not None and ref.response.ok:
                    await self._get("bola:cross", endpoint.key, url, token=token1)

    async def _transport(self, protected: list[Endpoint]) -> None:
        if not self.target.https:
            return
        http_root = "http://" + urlsplit(self.target.base_url).netloc + "/"
        await self._get("https-redirect", "GET /", http_root)
        token = self._access()
        if self.options.active and token and protected:
            # Puts a live token on the wire in clear text: only when the user asked for --active.
            endpoint = protected[0]
            url = "http://" + urlsplit(self.target.base_url).netloc + endpoint.path
            await self._get("plain-http", endpoint.key, url, token=token)

    async def _refresh(self) -> None:
        tokens = self.target.tokens.get("user1")
        url = self.target.token_endpoint
        if tokens is None or not tokens.refresh or not url or not self._d.allows(url):
            return
        fields = {"grant_type": "refresh_token", "refresh_token": tokens.refresh}
        if self.options.client_id:
            fields["client_id"] = self.options.client_id
        ex = await self._d.send(
            "refresh", f"POST {urlsplit(url).path}", "POST", url, data=fields, sanctioned=True
        )
        if ex.response is not None and ex.response.ok:
            fresh = tokens_from_response(json_body(ex), ex.response)
            if fresh.access:
                self.target.tokens["user1-refreshed"] = fresh

    async def _introspect(self) -> None:
        """--active only (it is a POST): ask the RFC 7662 endpoint about our own token, to see
        whether its answer carries personal data (TV-PII-001)."""
        url = self.target.metadata.get("introspection_endpoint")
        token = self._access()
        if not self.options.active or not url or token is None or not self._d.allows(str(url)):
            return
        fields = {"token": token, "token_type_hint": "access_token"}
        if self.options.client_id:
            fields["client_id"] = self.options.client_id
        await self._d.send(
            "introspect", f"POST {urlsplit(str(url)).path}", "POST", str(url), data=fields
        )

    async def _revoke(self, protected: list[Endpoint]) -> None:
        """--active only: revoke (RFC 7009 endpoint from RFC 8414 metadata) or log out (a POST
        .../logout route from the OpenAPI document), then present the same token again."""
        if not self.options.active or not protected:
            return
        tokens = self.target.tokens.get("user1-refreshed") or self.target.tokens.get("user1")
        if tokens is None or not tokens.access:
            return
        metadata_url = self.target.metadata.get("revocation_endpoint")
        logout = next(
            (
                e
                for e in self.target.endpoints
                if e.method == "POST" and _LOGOUT.search(e.template) and not e.params
            ),
            None,
        )
        if metadata_url:
            url = str(metadata_url)
            if not self._d.allows(url):
                self.notes.append("revocation endpoint is on another host: not tested")
                return
            fields = {"token": tokens.access, "token_type_hint": "access_token"}
            if self.options.client_id:
                fields["client_id"] = self.options.client_id
            ex = await self._d.send(
                "revoke", f"POST {urlsplit(url).path}", "POST", url, data=fields
            )
            variant = "after-revocation"
        elif logout is not None:
            ex = await self._d.send(
                "revoke",
                logout.key,
                "POST",
                self._url(logout.path),
                headers={"Authorization": f"Bearer {tokens.access}"},
            )
            variant = "after-logout"
        else:
            return
        if ex.response is None or not ex.response.ok:
            self.notes.append("revocation or logout was refused: TV-VAL-010 not tested")
            return
        target = protected[0]
        await self._get(
            f"forge:revoked:{variant}", target.key, self._url(target.path), token=tokens.access
        )
