"""The leak harness catches a deliberately leaky app on every channel, and passes a hardened one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenveil.store._protocols import SecurityEvent
from tokenveil.testing import Canaries, LeakHarness, LeakReport

from ._shop import hardened_app, leaky_app


@pytest.fixture(autouse=True)
def _app_logger_level() -> Iterator[None]:
    logger = logging.getLogger("tests.edge.shop")
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(logging.NOTSET)


async def _read_user(harness: LeakHarness) -> None:
    await harness.request(
        "GET", "/users/u1", headers={"Authorization": f"Bearer {harness.canaries.access_token}"}
    )


async def _run(app_factory: object, canaries: Canaries, tmp_path: Path) -> LeakReport:
    db = tmp_path / "shop.sqlite3"
    db.write_bytes(
        b"SQLite format 3\x00" + canaries.email.encode() + canaries.refresh_token.encode()
    )
    app = app_factory(canaries)  # type: ignore[operator]
    async with LeakHarness(app, canaries=canaries, files={db: {"email"}}) as harness:
        return await harness.run(_read_user)


def test_canaries_are_unique_valid_and_masked_in_repr() -> None:
    """Two generations never collide; the card passes Luhn; repr shows no value."""
    first, second = Canaries.generate(), Canaries.generate()
    assert set(first.values().values()).isdisjoint(second.values().values())
    digits = [int(c) for c in first.card.replace(" ", "")]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    assert checksum % 10 == 0
    assert all(value not in repr(first) for value in first.values().values())


async def test_harness_catches_every_leak_of_the_leaky_app(tmp_path: Path) -> None:
    """Body, header, log (token, password, traceback) and file leaks are all reported."""
    canaries = Canaries.generate()
    report = await _run(leaky_app, canaries, tmp_path)
    assert report.requests >= 8
    assert {"email", "name", "phone"} <= report.kinds_in("response.body")
    assert "email" in report.kinds_in("response.header")
    assert {"access_token", "password", "email"} <= report.kinds_in("log")
    assert report.kinds_in("file") == {"refresh_token"}  # email is allowed in that file
    with pytest.raises(AssertionError) as failure:
        report.assert_clean()
    message = str(failure.value)
    assert "canary email leaked in response.body (GET /users/u1" in message
    assert all(value not in message for value in canaries.values().values())


async def test_hardened_app_passes_the_same_harness(tmp_path: Path) -> None:
    """The same routes with declared PII and harden(app): no canary anywhere."""
    canaries = Canaries.generate()
    events: list[SecurityEvent] = []
    db = tmp_path / "shop.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + canaries.email.encode())
    async with LeakHarness(
        hardened_app(canaries, events), canaries=canaries, files={db: {"email"}}
    ) as harness:
        report = await harness.run(_read_user)
    report.assert_clean()
    assert report.requests >= 8
    assert report.log_records > 0


async def test_allow_and_watch_let_a_flow_state_what_is_legitimate() -> None:
    """A response allowed to hold a kind is not a leak; a watched value is searched everywhere."""
    canaries = Canaries.generate()

    async def flow(harness: LeakHarness) -> None:
        await harness.request("GET", "/users/u1", allow={"email", "name", "phone"})
        harness.watch("session", "session-7f3a9c")
        await harness.request("GET", "/users/session-7f3a9c")

    async with LeakHarness(leaky_app(canaries), canaries=canaries) as harness:
        report = await harness.run(flow, drive_routes=False)
    assert report.kinds_in("response.body") == {"session"}
    assert "session" in report.kinds_in("log")  # the emulated access log line
    assert [leak.where for leak in report.leaks if leak.channel == "response.body"] == [
        "GET /users/<session> → 404"
    ]
