"""The HTTP driver: the scanner's only I/O. Sends through an injected ``httpx.AsyncClient``,
keeps to a request budget and a rate, refuses unsafe methods unless told, never follows a
redirect (it could lead off the target) and records every exchange."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

try:
    import httpx
except ImportError as exc:  # the scanner is an extra: say which one
    raise ImportError("tokenveil scan needs httpx: pip install 'tokenveil[scan]'") from exc

from tokenveil.errors import TokenveilError
from tokenveil.scan._model import Exchange, RecordedRequest, RecordedResponse

__all__ = [
    "SAFE_METHODS",
    "BudgetExhausted",
    "Driver",
    "ScanError",
    "TargetUnreachable",
    "UnsafeRequest",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Bodies are kept for the checks; past this they are cut (a scanner is not a downloader).
MAX_BODY = 512 * 1024
#: Longest pause honoured for a 429 Retry-After, in seconds.
MAX_BACKOFF = 10.0


class ScanError(TokenveilError):
    """The scan cannot go on (usage or connection problem); the message is one clear line."""

    code = "scan_error"


class TargetUnreachable(ScanError):
    """The target did not answer."""

    code = "scan_target_unreachable"


class BudgetExhausted(ScanError):
    """The request budget (--max-requests) is spent; the report is partial."""

    code = "scan_budget_exhausted"


class UnsafeRequest(ScanError):
    """A request that could change data was about to be sent without --active."""

    code = "scan_unsafe_request"


async def _read_capped(answer: httpx.Response) -> bytes:
    """At most MAX_BODY bytes of the body: a hostile target cannot exhaust the scanner's memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks)[:MAX_BODY]


Sleep = Callable[[float], Awaitable[None]]
OnRequest = Callable[[Exchange], None]


class Driver:
    """Sends requests, one at a time, within ``max_requests`` and ``rate`` (requests/s; 0 = no
    limit). ``allowed_origins`` bounds where it may go: scheme://host:port strings."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allowed_origins: set[str],
        max_requests: int = 300,
        rate: float = 10.0,
        active: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        on_request: OnRequest | None = None,
    ) -> None:
        self._client = client
        self._allowed = {o.lower() for o in allowed_origins}
        self.max_requests = max_requests
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self.active = active
        self._clock = clock
        self._sleep = sleep
        self._next_at = 0.0
        self._on_request = on_request
        self.exchanges: list[Exchange] = []
        self.sent = 0
        self.rate_limited = 0

    @property
    def remaining(self) -> int:
        return self.max_requests - self.sent

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower() in self._allowed

    async def send(
        self,
        probe: str,
        endpoint: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json: object = None,
        user: str = "user1",
        sanctioned: bool = False,
    ) -> Exchange:
        """Send one request and record it. ``sanctioned`` marks the login/refresh calls the user
        asked for, the only non-safe requests allowed without ``active``."""
        method = method.upper()
        if method not in SAFE_METHODS and not (self.active or sanctioned):
            raise UnsafeRequest(f"{method} needs --active")
        if not self.allows(url):
            # Never leave the target: a scanner that follows a link elsewhere attacks a stranger.
            raise ScanError(f"refusing to contact a host other than the target ({probe})")
        if self.sent >= self.max_requests:
            raise BudgetExhausted(f"request budget of {self.max_requests} spent")
        await self._pace()
        self.sent += 1
        # The scanner decides every credential itself: a cookie the client jar kept from a login
        # would make the "no token" baseline authenticated and every comparison wrong.
        self._client.cookies.clear()
        request = self._client.build_request(
            method, url, headers=dict(headers or {}), data=data, json=json
        )
        recorded_request = RecordedRequest(
            method,
            str(request.url),
            tuple(request.headers.multi_items()),
            bytes(request.read()) if method not in SAFE_METHODS else b"",
        )
        started = self._clock()
        response: RecordedResponse | None = None
        error: str | None = None
        try:
            answer = await self._client.send(request, follow_redirects=False, stream=True)
            try:
                body = await _read_capped(answer)
            finally:
                await answer.aclose()
            response = RecordedResponse(
                answer.status_code, tuple(answer.headers.multi_items()), body
            )
            if answer.status_code == 429:
                self._back_off(answer.headers.get("retry-after"))
        except httpx.TransportError as exc:
            # The class name only: some transport messages quote the URL, which may hold a token.
            error = type(exc).__name__
        exchange = Exchange(
            probe, endpoint, recorded_request, response, self._clock() - started, error, user
        )
        self.exchanges.append(exchange)
        if self._on_request is not None:
            self._on_request(exchange)
        return exchange

    def _back_off(self, retry_after: str | None) -> None:
        """429: wait as asked (capped) before the next request; the scan is a guest."""
        self.rate_limited += 1
        try:
            delay = float(retry_after) if retry_after else 1.0
        except ValueError:
            delay = 1.0  # an HTTP-date: do not parse, wait a second
        delay = min(max(delay, 0.0), MAX_BACKOFF)
        self._next_at = max(self._next_at, self._clock() + delay)

    async def _pace(self) -> None:
        now = self._clock()
        if now < self._next_at:
            await self._sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self._interval
