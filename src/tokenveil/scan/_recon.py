"""Reconnaissance: reach the target, read what it publishes (OpenAPI, RFC 8414 metadata, JWKS),
log in, and record the baseline: every GET with and without a token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tokenveil.scan._checks._base import json_body
from tokenveil.scan._checks._exposure import IDENTITY_PATH as _IDENTITY
from tokenveil.scan._discovery import (
    COMMON_PATHS,
    DEBUG_PATHS,
    METADATA_PATHS,
    OPENAPI_PATHS,
    endpoints_from_openapi,
    tokens_from_response,
)
from tokenveil.scan._driver import ScanError, TargetUnreachable
from tokenveil.scan._model import Endpoint, RecordedResponse, TokenSet
from tokenveil.scan._session import Session

__all__ = ["Recon"]

_NO_COOKIES = RecordedResponse(200)


class Recon(Session):
    """The phases that map the API and obtain tokens."""

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
        if "user1" not in self.target.tokens:
            self.notes.append("no token (--token or --login): token checks were skipped")
        elif "user2" not in self.target.tokens:
            self.notes.append("no second user (--second-user): BOLA was not tested")

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
        for name, value in tokens.cookies.items():
            if (
                value == tokens.access
                and tokens_from_response(json_body(ex), _NO_COOKIES).access is None
            ):
                self.target.auth_cookie = name  # cookie-authenticated API
        return tokens

    async def _baseline(self) -> None:
        """Every GET with and without the token, within half the budget: the attacks that
        follow need the other half. Identity routes go first, then declared ones, then guesses."""
        token = self._access()
        gets = [e for e in self.target.endpoints if e.method == "GET"]
        gets.sort(key=lambda e: (not _IDENTITY.search(e.template), e.source != "openapi"))
        floor = self.options.max_requests // 2
        for done, endpoint in enumerate(gets):
            if self._d.remaining - 2 < floor:
                self.notes.append(
                    f"budget: baseline limited to {done} of {len(gets)} GET endpoints"
                )
                return
            url = self._url(endpoint.path)
            await self._get("baseline:none", endpoint.key, url)
            if token is not None:
                await self._get("baseline:access", endpoint.key, url, token=token)
