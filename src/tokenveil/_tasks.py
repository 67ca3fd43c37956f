"""Stopping background tasks reliably.

A cancellation can be swallowed by a driver call it lands in (redis-py's ``get_message`` and
its timeout handling do this), after which a polling loop simply goes on; a single
``task.cancel(); await task`` then waits forever and ``close()`` hangs. :func:`stop_task`
repeats the cancellation until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("tokenveil")


async def stop_task(task: asyncio.Task[None], *, every: float = 0.5) -> None:
    """Cancel ``task`` (again every ``every`` seconds) until it is done; log if it had failed."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s ended: %s", task.get_name(), type(task.exception()).__name__)
