"""Background tasks stop even when a driver call swallows the cancellation (close() never hangs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.server._app import make_settings
from tokenveil._tasks import stop_task
from tokenveil.service import TokenService
from tokenveil.store import MemoryStore


async def _swallow_once(state: dict[str, int]) -> None:
    """Waits like a slow store call and eats the first cancellation, as redis-py can."""
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        state["swallowed"] += 1
        if state["swallowed"] > 1:
            raise


async def _loop(state: dict[str, int]) -> None:
    while True:
        await _swallow_once(state)


async def test_stop_task_ends_a_loop_whose_first_cancellation_is_swallowed() -> None:
    state = {"swallowed": 0}
    task = asyncio.create_task(_loop(state))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(stop_task(task, every=0.05))
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert stopping in done
    assert task.cancelled()
    assert state["swallowed"] == 2


async def test_stop_task_logs_a_task_that_had_failed(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("boom: not shown")

    task = asyncio.create_task(broken(), name="tokenveil-test")
    await asyncio.sleep(0)
    await stop_task(task)
    assert "background task tokenveil-test ended: RuntimeError" in caplog.text
    assert "boom" not in caplog.text


async def test_service_close_returns_when_a_sync_swallows_the_cancellation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in CI: close() hung because a cancelled _tick went on and the loop slept again."""
    service = await TokenService.open(make_settings(tmp_path), store=MemoryStore())
    state = {"swallowed": 0}

    async def tick() -> None:
        await _swallow_once(state)

    monkeypatch.setattr(service, "_tick", tick)
    service.start_background()
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(service.close())
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert closing in done, "TokenService.close() did not return within 5 s"
    assert state["swallowed"] >= 1
