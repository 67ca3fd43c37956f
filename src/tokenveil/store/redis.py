"""Redis backends for what many instances must share at once: revocations, DPoP replay, windows.

- :class:`RedisRevocations` implements :class:`~tokenveil.store.RevocationStore`. Every change
  (revoked jti, cut-off, version bump) is one Lua script that changes the data, increments the
  state version and publishes an invalidation message, atomically, so no instance can see the
  new version without the message having been sent.
- :class:`RedisInvalidationListener` subscribes to those messages for an instance's local
  cache and reconnects by itself; after every (re)connection it delivers a ``resync`` so the
  cache reloads whatever was published while it was away.
- :class:`RedisReplayCache` remembers DPoP proof ``jti`` values (``SET NX PX``).
- :class:`RedisWindowStore` keeps the monitor's usage windows, one round trip (one script) per
  observation.
- :class:`RedisRateCounter` counts requests per fixed window for the token endpoint's rate
  limits (``INCR`` + ``PEXPIRE``, one round trip), shared by every instance.

Every connection failure is raised as :class:`tokenveil.errors.StoreUnavailable` (from the
driver error), so verification fails closed (invariant 9). Messages never echo the Redis URL: it
may hold a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from tokenveil._tasks import stop_task
from tokenveil.errors import ConfigurationError, StoreError, StoreUnavailable
from tokenveil.monitor._window import (
    UsageRecord,
    UsageWindows,
    WindowLimits,
    prune,
    window_keys,
)
from tokenveil.store._ratelimit import Hit, window_of

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigurationError(
        "the Redis backend needs redis: pip install 'tokenveil[redis]'"
    ) from exc

__all__ = [
    "Invalidation",
    "RedisInvalidationListener",
    "RedisRateCounter",
    "RedisReplayCache",
    "RedisRevocations",
    "RedisWindowStore",
    "connect",
]

_log = logging.getLogger("tokenveil.store.redis")

Redis = aioredis.Redis
DEFAULT_PREFIX = "tokenveil:"


def connect(url: str, **options: Any) -> Redis:
    """A client for ``url`` with short timeouts: an unreachable Redis must fail fast, not hang
    every request for the driver's default 5 s (override through ``options``)."""
    options.setdefault("socket_connect_timeout", 1.0)
    options.setdefault("socket_timeout", 2.0)
    return aioredis.Redis.from_url(url, **options)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable("Redis is unreachable") from exc
    except RedisError as exc:
        raise StoreError("Redis command failed") from exc


# Each script changes state, bumps the version and publishes one message carrying that version.
# ARGV holds the message as JSON without its version; the script appends ',"version":N}'.
_PUBLISH = (
    "redis.call('PUBLISH', ARGV[1], string.sub(ARGV[2], 1, -2) .. ',\"version\":' .. v .. '}')"
)
_REVOKE_LUA = f"""
redis.call('ZADD', KEYS[1], 'GT', ARGV[4], ARGV[3])
local v = redis.call('INCR', KEYS[2])
{_PUBLISH}
return v
"""
_CUTOFF_LUA = f"""
redis.call('SET', KEYS[1], ARGV[3])
local v = redis.call('INCR', KEYS[2])
{_PUBLISH}
return v
"""
_BUMP_LUA = f"""
local v = redis.call('INCR', KEYS[1])
{_PUBLISH}
return v
"""


@dataclass(frozen=True, slots=True)
class Invalidation:
    """One change announced on the channel. ``resync`` means: reload everything."""

    type: Literal["revoke_jti", "cutoff", "version", "resync"]
    version: int | None = None
    jti: str | None = None
    expires_at: float | None = None
    cutoff: float | None = None

    @classmethod
    def parse(cls, data: bytes | str) -> Invalidation | None:
        """None for anything that is not one of our messages."""
        try:
            raw = json.loads(data)
            kind = raw["type"]
            if kind not in ("revoke_jti", "cutoff", "version"):
                return None
            return cls(
                type=kind,
                version=int(raw["version"]),
                jti=str(raw["jti"]) if "jti" in raw else None,
                expires_at=float(raw["expires_at"]) if "expires_at" in raw else None,
                cutoff=float(raw["cutoff"]) if "cutoff" in raw else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


class RedisRevocations:
    """Revoked access tokens, the kill-switch cut-off and the state version, shared in Redis.

    Revoked jtis live in one sorted set scored by expiry, so listing the live ones is one range
    query and expired ones are swept as they are read.
    """

    def __init__(
        self, client: Redis, *, prefix: str = DEFAULT_PREFIX, channel: str | None = None
    ) -> None:
        self._client = client
        self._revoked = f"{prefix}revoked"
        self._cutoff = f"{prefix}cutoff"
        self._version = f"{prefix}version"
        self.channel = channel or f"{prefix}invalidate"
        self._revoke = client.register_script(_REVOKE_LUA)
        self._set_cutoff = client.register_script(_CUTOFF_LUA)
        self._bump = client.register_script(_BUMP_LUA)

    def __repr__(self) -> str:
        return f"RedisRevocations(channel={self.channel!r})"

    async def revoke_jti(self, jti: str, expires_at: float) -> None:
        message = json.dumps({"type": "revoke_jti", "jti": jti, "expires_at": expires_at})
        with _translated():
            # ZADD GT: revoking again never shortens a revocation.
            await self._revoke(
                keys=[self._revoked, self._version],
                args=[self.channel, message, jti, repr(float(expires_at))],
            )

    async def is_revoked(self, jti: str, now: float) -> bool:
        """One command: is this jti revoked and its token not expired yet?"""
        with _translated():
            score = await self._client.zscore(self._revoked, jti)
        return score is not None and float(score) > now

    async def revoked_jtis(self, now: float) -> set[str]:
        with _translated():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self._revoked, "-inf", now)
                pipe.zrangebyscore(self._revoked, f"({now!r}", "+inf")
                _, members = await pipe.execute()
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def set_cutoff(self, cutoff: float) -> None:
        message = json.dumps({"type": "cutoff", "cutoff": cutoff})
        with _translated():
            await self._set_cutoff(
                keys=[self._cutoff, self._version],
                args=[self.channel, message, repr(float(cutoff))],
            )

    async def get_cutoff(self) -> float | None:
        with _translated():
            value = await self._client.get(self._cutoff)
        return float(value) if value is not None else None

    async def state_version(self) -> int:
        with _translated():
            value = await self._client.get(self._version)
        return int(value) if value is not None else 0

    async def bump_state_version(self) -> int:
        message = json.dumps({"type": "version"})
        with _translated():
            version = await self._bump(keys=[self._version], args=[self.channel, message])
        return int(version)


Callback = Callable[[Invalidation], Awaitable[None]]


class RedisInvalidationListener:
    """Delivers each :class:`Invalidation` published on ``channel`` to ``callback``.

    Runs as a background task (``await start()`` / ``await stop()``, or ``async with``). When
    the connection drops it retries with exponential backoff (``retry_initial`` doubling up to
    ``retry_max`` seconds) and, once subscribed again, delivers ``Invalidation("resync")``
    first: messages published meanwhile are lost, so the local cache must reload. A callback
    that raises is logged and does not stop the listener.
    """

    def __init__(
        self,
        url: str,
        callback: Callback,
        *,
        channel: str = f"{DEFAULT_PREFIX}invalidate",
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        health_check_interval: int = 10,
        client_name: str | None = None,
    ) -> None:
        self._url = url
        self._callback = callback
        self.channel = channel
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._health = health_check_interval
        self._client_name = client_name
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = asyncio.Event()
        #: How many times a subscription was established (1 after the first connection).
        self.connections = 0

    def __repr__(self) -> str:
        return f"RedisInvalidationListener(channel={self.channel!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Until subscribed (wrap in ``asyncio.timeout`` to bound the wait)."""
        await self._connected.wait()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tokenveil-invalidation-listener")

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended.

        redis-py's ``get_message`` can swallow a cancellation that lands while it reads (the
        task then goes on waiting for messages): the loop also watches ``_stopping``, and the
        cancellation is repeated until the task is done, so ``stop`` always returns.
        """
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            await stop_task(task)
            self._stopping = False
        self._connected.clear()

    async def __aenter__(self) -> RedisInvalidationListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        delay = self._retry_initial
        while not self._stopping:
            # No driver-level retry: a silent reconnect inside redis-py would hide the gap in
            # which messages were lost, and we must answer that gap with a resync.
            client = connect(
                self._url,
                retry=Retry(NoBackoff(), 0),
                socket_timeout=None,
                health_check_interval=self._health,
                client_name=self._client_name,
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connections += 1
                self._connected.set()
                delay = self._retry_initial
                await self._deliver(Invalidation("resync"))
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    parsed = Invalidation.parse(message["data"])
                    if parsed is not None:
                        await self._deliver(parsed)
            except (RedisError, OSError) as exc:
                # Connection loss above all, but any driver error: the listener must not die.
                if self._connected.is_set():
                    _log.warning("invalidation channel lost (%s); reconnecting", type(exc).__name__)
                self._connected.clear()
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)

    async def _deliver(self, invalidation: Invalidation) -> None:
        try:
            await self._callback(invalidation)
        except Exception as exc:
            # One bad callback run must not end the subscription for the instance.
            _log.error("invalidation callback failed: %s", type(exc).__name__)


class RedisReplayCache:
    """DPoP proof replay cache shared by every instance: ``SET key 1 NX PX ttl``."""

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}dpop:"

    def __repr__(self) -> str:
        return "RedisReplayCache()"

    async def first_use(self, key: str, *, now: float, ttl: float) -> bool:
        with _translated():
            created = await self._client.set(
                f"{self._prefix}{key}", b"1", nx=True, px=max(1, math.ceil(ttl * 1000))
            )
        return bool(created)


class RedisRateCounter:
    """Fixed-window counters shared by every instance: one key per (window, key), expiring
    with its window, so nothing about a caller outlives the window it was counted in."""

    def __init__(self, client: Redis, window: float, *, prefix: str = DEFAULT_PREFIX) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._client = client
        self.window = window
        self._prefix = f"{prefix}rate:"
        self._refund = client.register_script(_REFUND_LUA)

    def __repr__(self) -> str:
        return f"RedisRateCounter(window={self.window})"

    async def hit(self, key: str, *, now: float) -> Hit:
        slot, left = window_of(now, self.window)
        name = f"{self._prefix}{slot}:{key}"
        with _translated():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                # A second of slack: instances' clocks differ a little.
                pipe.pexpire(name, math.ceil((left + 1.0) * 1000))
                count, _ = await pipe.execute()
        return Hit(int(count), left)

    async def peek(self, key: str, *, now: float) -> Hit:
        slot, left = window_of(now, self.window)
        with _translated():
            count = await self._client.get(f"{self._prefix}{slot}:{key}")
        return Hit(int(count or 0), left)

    async def refund(self, key: str, *, now: float) -> None:
        slot, _ = window_of(now, self.window)
        with _translated():
            # DECR on a missing (expired) key would create one that never expires.
            await self._refund(keys=[f"{self._prefix}{slot}:{key}"])


_REFUND_LUA = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

_WINDOW_LUA = """
local data, maxr, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nwin = #KEYS - 1
local out = {}
for i = 1, nwin do
  -- The last window is the subject's, kept shorter (ARGV[9]).
  if i == nwin then maxr = tonumber(ARGV[9]) end
  redis.call('LPUSH', KEYS[i], data)
  redis.call('LTRIM', KEYS[i], 0, maxr - 1)
  redis.call('EXPIRE', KEYS[i], ttl)
  -- One bulk string per window (records are JSON, never holding a raw newline): parsing
  -- a reply costs the client per element, so this keeps the reply to a handful of them.
  out[i] = table.concat(redis.call('LRANGE', KEYS[i], 0, maxr - 1), '\\n')
end
local rate = KEYS[#KEYS]
local first, current, buckets = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('HINCRBY', rate, ARGV[4], 1)
redis.call('EXPIRE', rate, tonumber(ARGV[8]))
if redis.call('HLEN', rate) > buckets then
  for _, field in ipairs(redis.call('HKEYS', rate)) do
    if tonumber(field) < first then redis.call('HDEL', rate, field) end
  end
end
local fields = {}
for b = first, current do fields[#fields + 1] = tostring(b) end
local counts = redis.call('HMGET', rate, unpack(fields))
for i = 1, #counts do if not counts[i] then counts[i] = '0' end end
out[nwin + 1] = table.concat(counts, ',')
return out
"""


# Each record is read back on every later use of its token, family and subject: decode each
# stored string once. Records are frozen, so sharing them is safe; the cache is bounded.
_decode = functools.lru_cache(maxsize=65_536)(UsageRecord.loads)


class RedisWindowStore:
    """The monitor's usage windows in Redis lists, plus a hash of per-bucket subject counters.

    One script call per observation (one round trip, and no per-command client overhead):
    ``LPUSH`` + ``LTRIM`` + ``EXPIRE`` + ``LRANGE`` per window, ``HINCRBY`` + ``HMGET`` for the
    subject rate. Idle windows expire after ``max_age``; records hold pseudonyms only.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        limits: WindowLimits | None = None,
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}w:"
        self.limits = limits or WindowLimits()
        self._script = client.register_script(_WINDOW_LUA)

    def __repr__(self) -> str:
        return "RedisWindowStore()"

    async def append(self, record: UsageRecord, *, now: float) -> UsageWindows:
        limits = self.limits
        names = [n for n in window_keys(record) if n is not None]
        current = limits.bucket(now)
        keys = [f"{self._prefix}{name}" for name in names]
        keys.append(f"{self._prefix}r:{record.sub}")
        args: list[str | int] = [
            record.dumps(),
            limits.max_records,
            max(1, math.ceil(limits.max_age)),
            limits.bucket(record.at),
            current - limits.rate_buckets + 1,
            current,
            limits.rate_buckets,
            max(1, math.ceil(limits.rate_bucket * limits.rate_buckets)),
            limits.max_sub_records,
        ]
        with _translated():
            results = await self._script(keys=keys, args=args)
        sizes = [limits.max_records] * (len(names) - 1) + [limits.max_sub_records]
        windows = [
            prune([_decode(item) for item in joined.split(b"\n") if item], now, limits, size)
            for joined, size in zip(results[:-1], sizes, strict=True)
        ]
        rate = tuple(int(v) for v in results[-1].split(b","))
        by_family = windows[1] if record.family_id else ()
        return UsageWindows(windows[0], by_family, windows[-1], rate)
