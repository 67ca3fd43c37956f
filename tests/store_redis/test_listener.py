"""``RedisInvalidationListener`` delivers messages and finds its way back after Redis returns."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest

from tests.conftest import REDIS_HOST, REDIS_PORT, free_port
from tokenveil.store.redis import (
    Invalidation,
    Redis,
    RedisInvalidationListener,
    RedisRevocations,
)

pytestmark = pytest.mark.redis

NOW = 1_800_000_000.0


class Inbox:
    def __init__(self) -> None:
        self.items: list[Invalidation] = []
        self._changed = asyncio.Condition()

    async def __call__(self, invalidation: Invalidation) -> None:
        async with self._changed:
            self.items.append(invalidation)
            self._changed.notify_all()

    async def wait_for(self, count: int) -> list[Invalidation]:
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: len(self.items) >= count)
        return list(self.items)


def _listener(
    url: str, inbox: Inbox, channel: str, name: str | None = None
) -> RedisInvalidationListener:
    return RedisInvalidationListener(
        url, inbox, channel=channel, retry_initial=0.05, retry_max=0.2, client_name=name
    )


async def test_listener_delivers_resync_then_each_change(
    client: Redis, prefix: str, redis_url: str
) -> None:
    """After subscribing the listener delivers resync, then every published change."""
    revocations = RedisRevocations(client, prefix=prefix)
    inbox = Inbox()
    async with _listener(redis_url, inbox, revocations.channel) as listener:
        async with asyncio.timeout(5):
            await listener.wait_connected()
        await revocations.revoke_jti("j1", NOW + 60)
        items = await inbox.wait_for(2)
    assert items == [
        Invalidation("resync"),
        Invalidation("revoke_jti", 1, jti="j1", expires_at=NOW + 60),
    ]
    assert not listener.connected


async def test_listener_recovers_after_its_connection_is_killed(
    client: Redis, prefix: str, redis_url: str
) -> None:
    """CLIENT KILL on the subscriber: it reconnects, resyncs, and receives later changes."""
    revocations = RedisRevocations(client, prefix=prefix)
    inbox = Inbox()
    name = f"tvtest-{secrets.token_hex(4)}"
    async with _listener(redis_url, inbox, revocations.channel, name) as listener:
        await inbox.wait_for(1)
        # Kill only our own subscriber connection, found by its name; other runs share Redis.
        ids = [c["id"] for c in await client.client_list() if c.get("name") == name]
        assert ids
        for client_id in ids:
            await client.client_kill_filter(_id=client_id)
        items = await inbox.wait_for(2)
        assert items[1] == Invalidation("resync")
        assert listener.connections == 2
        await revocations.bump_state_version()
        items = await inbox.wait_for(3)
    assert items[2] == Invalidation("version", 1)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tcp_proxy(port: int) -> AsyncIterator[None]:
    """Forwards 127.0.0.1:port to Redis; leaving it closes the port and every connection."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        for coro in (_pipe(reader, up_writer), _pipe(up_reader, writer)):
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def test_listener_waits_for_redis_to_come_up_and_comes_back_after_an_outage(
    client: Redis, prefix: str
) -> None:
    """Started while Redis is unreachable it keeps retrying; it reconnects after an outage."""
    revocations = RedisRevocations(client, prefix=prefix)
    port = free_port()
    inbox = Inbox()
    async with _listener(f"redis://127.0.0.1:{port}/0", inbox, revocations.channel) as listener:
        await asyncio.sleep(0.3)
        assert not listener.connected
        assert inbox.items == []
        async with tcp_proxy(port):
            await inbox.wait_for(1)
            assert listener.connected
        # The proxy is gone, its connections closed: Redis was "down" for the listener.
        async with tcp_proxy(port):
            await inbox.wait_for(2)
            await revocations.set_cutoff(NOW)
            items = await inbox.wait_for(3)
        assert listener.connections == 2
    assert items == [
        Invalidation("resync"),
        Invalidation("resync"),
        Invalidation("cutoff", 1, cutoff=NOW),
    ]


async def test_failing_callback_does_not_stop_the_listener(
    client: Redis, prefix: str, redis_url: str
) -> None:
    """A callback that raises is logged; the next message is still delivered."""
    revocations = RedisRevocations(client, prefix=prefix)
    inbox = Inbox()
    calls = 0

    async def flaky(invalidation: Invalidation) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("cache bug")
        await inbox(invalidation)

    listener = RedisInvalidationListener(redis_url, flaky, channel=revocations.channel)
    async with listener:
        await inbox.wait_for(1)
        await revocations.bump_state_version()
        await revocations.bump_state_version()
        items = await inbox.wait_for(2)
    assert items[1] == Invalidation("version", 2)


async def test_foreign_messages_on_the_channel_are_skipped(
    client: Redis, prefix: str, redis_url: str
) -> None:
    """Garbage published on the channel is ignored and the next real change still arrives."""
    revocations = RedisRevocations(client, prefix=prefix)
    inbox = Inbox()
    async with _listener(redis_url, inbox, revocations.channel):
        await inbox.wait_for(1)
        await client.publish(revocations.channel, b"{not json")
        await client.publish(revocations.channel, b'{"type": "drop", "version": 1}')
        await revocations.bump_state_version()
        items = await inbox.wait_for(2)
    assert items == [Invalidation("resync"), Invalidation("version", 1)]


async def test_stop_returns_even_when_the_driver_swallows_the_cancellation(
    prefix: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py's get_message can eat a cancellation and return None; stop() still ends the task.

    Before the fix the listener went on waiting for messages and ``TokenService.close()`` hung
    (seen as an intermittent hang of tests/defence_integration/test_redis.py).
    """
    from redis.asyncio.client import PubSub

    original = PubSub.get_message
    swallowed = 0

    async def swallowing(self: PubSub, *args: object, **kwargs: object) -> object:
        nonlocal swallowed
        try:
            return await original(self, *args, **kwargs)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            swallowed += 1
            return None

    monkeypatch.setattr(PubSub, "get_message", swallowing)
    listener = _listener(redis_url, Inbox(), f"{prefix}invalidate")
    await listener.start()
    async with asyncio.timeout(5):
        await listener.wait_connected()
    stopping = asyncio.create_task(listener.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert stopping in done, "stop() did not return within 5 s"
    assert swallowed >= 1
    assert not listener.connected
