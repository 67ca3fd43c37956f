"""Stolen-token defence costs: DPoP proof verification and token-use monitoring.

- ``verify_proof`` against the bare ``cryptography`` check of the same proofs (best of 9
  interleaved rounds, CPU time), ES256 and EdDSA;
- ``client_ip``, geoip2fast lookups, ``TokenMonitor.observe`` with in-memory windows (CPU time);
- ``TokenMonitor.observe`` with Redis windows next to a bare Redis ``GET`` (wall time), when
  Redis answers on 127.0.0.1:6379.

Run: ``python -m bench.defence`` (or ``make bench``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tokenveil.dpop import InMemoryReplayCache, create_proof, verify_proof
from tokenveil.errors import StoreUnavailable
from tokenveil.keys import generate_private_key
from tokenveil.keys._b64 import b64url_decode
from tokenveil.monitor import (
    GeoIP2FastLookup,
    InMemoryWindowStore,
    Pseudonymizer,
    TokenMonitor,
    TokenUse,
    client_ip,
)

N = 1000


async def _dpop() -> None:
    now = time.time()
    for alg in ("ES256", "EdDSA"):
        key = generate_private_key(alg)
        public = key.public
        best_full = best_bare = float("inf")
        for _ in range(9):
            proofs = [
                create_proof(
                    key, htm="GET", htu="https://api.test/x", now=now, access_token="a.b.c"
                )
                for _ in range(N)
            ]
            parts = [
                (p.rsplit(".", 1)[0].encode(), b64url_decode(p.rsplit(".", 1)[1])) for p in proofs
            ]
            start = time.process_time()
            for signing_input, signature in parts:
                assert public.verify(signing_input, signature)
            best_bare = min(best_bare, time.process_time() - start)
            cache = InMemoryReplayCache()
            start = time.process_time()
            for proof in proofs:
                await verify_proof(
                    proof,
                    htm="GET",
                    htu="https://api.test/x?q=1",
                    now=now,
                    access_token="a.b.c",
                    nonce=None,
                    replay=cache,
                )
            best_full = min(best_full, time.process_time() - start)
        print(
            f"DPoP {alg}: verify_proof {N / best_full:,.0f}/s, bare signature check "
            f"{N / best_bare:,.0f}/s, ratio {best_bare / best_full:.2f}"
        )


def _cpu(label: str, fn: Callable[[int], object], n: int) -> None:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for i in range(n):
            fn(i)
        best = min(best, time.process_time() - start)
    print(f"{label}: {best / n * 1e6:.1f} µs CPU each")


def _uses(now: float, ips: list[str]) -> list[TokenUse]:
    return [
        TokenUse(
            jti=f"j{i % 500}",
            sub=f"u{i % 100}",
            expires_at=now + 600,
            family_id=f"f{i % 500}",
            ip=ips[i],
            user_agent="ua",
        )
        for i in range(len(ips))
    ]


async def _monitor() -> None:
    now = time.time()
    start = time.process_time()
    geo = GeoIP2FastLookup()
    print(f"GeoIP2FastLookup table load: {time.process_time() - start:.2f} s CPU")
    ips = [f"81.2.{i % 250}.{i % 200 + 1}" for i in range(20000)]
    cold = GeoIP2FastLookup(cache_size=1)
    _cpu("geoip2fast lookup (uncached)", lambda i: cold.lookup(ips[i]), 5000)
    headers = {"x-forwarded-for": "203.0.113.9, 10.0.0.5"}
    _cpu(
        "client_ip, one trusted hop",
        lambda i: client_ip(headers, "10.0.0.1", ["10.0.0.0/8"]),
        20000,
    )
    uses = _uses(now, ips)
    monitor = TokenMonitor(windows=InMemoryWindowStore(), geo=geo, pseudonymizer=Pseudonymizer())
    start = time.process_time()
    for i, use in enumerate(uses):
        await monitor.observe(use, now=now + i * 0.01)
    per_use = (time.process_time() - start) / len(uses) * 1e6
    print(f"TokenMonitor.observe, in-memory windows: {per_use:.1f} µs CPU each")
    await _monitor_redis(geo, uses, now)


async def _monitor_redis(geo: GeoIP2FastLookup, uses: list[TokenUse], now: float) -> None:
    try:
        from tokenveil.store.redis import RedisWindowStore, connect
    except ImportError:
        print("Redis windows: skipped (the redis extra is not installed)")
        return
    client = connect("redis://127.0.0.1:6379/0")
    prefix = f"tvbench:{time.time_ns()}:"
    try:
        start = time.perf_counter()
        for _ in range(1000):
            await client.get(prefix + "none")
        baseline = (time.perf_counter() - start) / 1000 * 1e6
        monitor = TokenMonitor(
            windows=RedisWindowStore(client, prefix=prefix), geo=geo, pseudonymizer=Pseudonymizer()
        )
        start = time.perf_counter()
        for i in range(3000):
            await monitor.observe(uses[i], now=now + i * 0.01)
        per_use = (time.perf_counter() - start) / 3000 * 1e6
        print(
            f"Redis GET round trip: {baseline:.0f} µs wall; "
            f"observe with Redis windows: {per_use:.0f} µs wall"
        )
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    except (OSError, StoreUnavailable) as exc:
        print(f"Redis windows: skipped (Redis unreachable on 127.0.0.1:6379: {type(exc).__name__})")
    finally:
        await client.aclose()


def main() -> None:
    print("\n== stolen-token defence: DPoP proofs and token-use monitoring ==")
    asyncio.run(_dpop())
    asyncio.run(_monitor())


if __name__ == "__main__":
    main()
