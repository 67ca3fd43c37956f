"""The scan plan: which phases run, in which order, and how the recording becomes a report.

Phases, each bounded by the driver's budget: discover (OpenAPI, RFC 8414 metadata, JWKS) → log in
→ baseline (every GET with and without a token) → forged tokens on each protected endpoint →
token in the query string → provoked errors → BOLA with the second user → HTTPS enforcement →
refresh → (with ``active``) introspection and revocation. Whatever was recorded when the budget
runs out or the user presses Ctrl-C is analysed all the same: the report then says it is partial.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tokenveil.scan import _jose
from tokenveil.scan._callback import CallbackServer, self_signed_pem
from tokenveil.scan._checks import Observations, analyse
from tokenveil.scan._driver import BudgetExhausted, Driver, OnRequest, ScanError
from tokenveil.scan._model import ScanResult, Target
from tokenveil.scan._options import ScanOptions
from tokenveil.scan._probes import Probes
from tokenveil.scan._recon import Recon

__all__ = ["ScanOptions", "Scanner"]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Scanner(Recon, Probes):
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
        self._key_server: CallbackServer | None = None
        self._attacker = ec.generate_private_key(ec.SECP256R1())  # fresh per scan, never stored
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
            if self.target.loopback:
                await self._start_key_server()
            try:
                await self._phases()
                self.complete = True
            except BudgetExhausted:
                self.notes.append(
                    f"request budget ({self.options.max_requests}) spent: the scan is partial"
                )
        finally:
            if self._key_server is not None:
                await self._key_server.close()
            if self._client is None:
                await client.aclose()
        return self.result()

    async def _start_key_server(self) -> None:
        """Serve the attacker's JWKS and certificate on 127.0.0.1 for the jku/x5u probes; only
        for loopback targets, which are the only ones that could reach it."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        jwks = {"keys": [_jose.ec_jwk(self._attacker.public_key(), _jose.ATTACKER_KID)]}
        self._key_server = CallbackServer(
            {
                "/jwks.json": ("application/json", json.dumps(jwks).encode()),
                "/cert.pem": ("application/x-pem-file", self_signed_pem(self._attacker, now)),
            }
        )
        base = await self._key_server.start()
        self._key_urls = (f"{base}/jwks.json", f"{base}/cert.pem")
        # Shared list: the checks see every fetch, even one made after the last probe.
        self.target.key_url_fetches = self._key_server.hits

    def result(self, *, interrupted: bool = False) -> ScanResult:
        """Analyse whatever has been recorded so far (also after Ctrl-C)."""
        if interrupted:
            self.complete = False
            self.notes.append("interrupted: the scan is partial")
        exchanges = tuple(self.driver.exchanges) if self.driver else ()
        notes = list(self.notes)
        if self.driver is not None and self.driver.rate_limited:
            notes.append(
                f"the target rate-limited {self.driver.rate_limited} requests (429); "
                "lower --rate for a complete picture"
            )
        obs = Observations(self.target, exchanges, self._clock())
        return ScanResult(
            target=self.target.base_url,
            findings=analyse(obs),
            requests=len(exchanges),
            complete=self.complete,
            notes=notes,
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
        await self._bola(protected)
        await self._transport(protected)
        await self._refresh()
        await self._introspect()
        await self._revoke(protected)
        await self._reuse_refresh()
