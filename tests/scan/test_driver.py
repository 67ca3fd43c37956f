"""The HTTP driver: bounded, paced, safe by default, fenced to the target, records everything."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tokenveil.scan import BudgetExhausted, ScanError, UnsafeRequest
from tokenveil.scan._driver import MAX_BODY, Driver

ORIGIN = "http://127.0.0.1:9"


def _client(handler: httpx.MockTransport | None = None) -> httpx.AsyncClient:
    transport = handler or httpx.MockTransport(lambda r: httpx.Response(200, json={"ok": True}))
    return httpx.AsyncClient(transport=transport)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_every_exchange_is_recorded_with_probe_and_endpoint() -> None:
    """Request, response and the reason it was sent are all kept for the checks."""
    async with _client() as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        ex = await driver.send("baseline:none", "GET /me", "GET", f"{ORIGIN}/me")
    assert ex.status == 200
    assert ex.probe == "baseline:none"
    assert driver.exchanges == [ex]
    assert b'"ok"' in (ex.response.body if ex.response else b"")


async def test_the_request_budget_is_never_exceeded() -> None:
    """--max-requests N: request N+1 raises BudgetExhausted and is not sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    async with _client(httpx.MockTransport(handler)) as client:
        driver = Driver(client, allowed_origins={ORIGIN}, max_requests=3, rate=0)
        for _ in range(3):
            await driver.send("p", "GET /", "GET", f"{ORIGIN}/")
        with pytest.raises(BudgetExhausted):
            await driver.send("p", "GET /", "GET", f"{ORIGIN}/")
    assert len(sent) == 3


async def test_requests_are_paced_to_the_rate() -> None:
    """--rate 4: consecutive requests are at least 0.25 s apart (injected clock)."""
    clock = FakeClock()
    async with _client() as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=4, clock=clock, sleep=clock.sleep)
        for _ in range(5):
            await driver.send("p", "GET /", "GET", f"{ORIGIN}/")
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]


async def test_unsafe_methods_need_active_unless_sanctioned() -> None:
    """POST/PUT/DELETE are refused without --active; the login the user asked for is allowed."""
    async with _client() as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        with pytest.raises(UnsafeRequest):
            await driver.send("p", "DELETE /users/1", "DELETE", f"{ORIGIN}/users/1")
        login = await driver.send(
            "login",
            "POST /token",
            "POST",
            f"{ORIGIN}/token",
            data={"username": "u"},
            sanctioned=True,
        )
        active = Driver(client, allowed_origins={ORIGIN}, rate=0, active=True)
        revoke = await active.send("revoke", "POST /revoke", "POST", f"{ORIGIN}/revoke")
    assert login.status == 200
    assert revoke.status == 200
    assert len(driver.exchanges) == 1


async def test_hosts_other_than_the_target_are_never_contacted() -> None:
    """A jwks_uri or link pointing elsewhere is refused before any traffic."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    async with _client(httpx.MockTransport(handler)) as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        with pytest.raises(ScanError, match="other than the target"):
            await driver.send("jwks", "GET /jwks", "GET", "https://evil.example.test/jwks")
    assert sent == []


async def test_redirects_are_recorded_not_followed() -> None:
    """A 302 to another host stays a 302: following it could leave the target."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://elsewhere.example.test/"})

    async with _client(httpx.MockTransport(handler)) as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        ex = await driver.send("p", "GET /", "GET", f"{ORIGIN}/")
    assert ex.status == 302
    assert len(driver.exchanges) == 1


async def test_transport_errors_are_recorded_by_class_name_only() -> None:
    """Connection failures become an exchange with no response; the message is not kept."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed for {request.url}")

    async with _client(httpx.MockTransport(handler)) as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        ex = await driver.send("p", "GET /", "GET", f"{ORIGIN}/?access_token=secret-value")
    assert ex.response is None
    assert ex.error == "ConnectError"


async def test_exchange_repr_masks_headers_and_bodies() -> None:
    """A stray print of an exchange shows no Authorization header, no body (CWE-532)."""
    async with _client() as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        ex = await driver.send(
            "p",
            "GET /me",
            "GET",
            f"{ORIGIN}/me",
            headers={"Authorization": "Bearer eyJsecret.value.sig"},
        )
    assert "eyJsecret" not in repr(ex)
    assert "ok" not in repr(ex.response)


async def test_429_pauses_as_asked_capped_at_ten_seconds() -> None:
    """Retry-After is honoured before the next request (capped), and counted for the notes."""
    clock = FakeClock()
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after": "3"}),
            httpx.Response(429, headers={"retry-after": "3600"}),
            httpx.Response(200),
            httpx.Response(200),
        ]
    )
    async with _client(httpx.MockTransport(lambda r: next(answers))) as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0, clock=clock, sleep=clock.sleep)
        for _ in range(4):
            await driver.send("p", "GET /", "GET", f"{ORIGIN}/")
    assert clock.slept == [3.0, 10.0]
    assert driver.rate_limited == 2


async def test_huge_bodies_are_cut_at_the_cap() -> None:
    """A multi-megabyte answer is recorded up to MAX_BODY only."""

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream())

    async with _client(httpx.MockTransport(handler)) as client:
        driver = Driver(client, allowed_origins={ORIGIN}, rate=0)
        ex = await driver.send("p", "GET /", "GET", f"{ORIGIN}/")
    assert ex.response is not None
    assert len(ex.response.body) == MAX_BODY
