"""A separate OS process for the cross-process consume race: opens the store, says ``ready``,
waits for ``go`` on stdin, consumes one token ``n`` times concurrently, prints the statuses."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from tokenveil.store.sql import SqlStore


async def _main(url: str, schema: str, token_hash: str, n: int) -> None:
    async with SqlStore(url, schema=schema or None) as store:
        # Warm the pool, so the race is between consumes and not between connects.
        await asyncio.gather(*(store.state_version() for _ in range(n)))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        results = await asyncio.gather(*(store.consume(token_hash, time.time()) for _ in range(n)))
    print(json.dumps([r.status for r in results]), flush=True)


if __name__ == "__main__":
    url, schema, token_hash, n = sys.argv[1:5]
    asyncio.run(_main(url, schema, token_hash, int(n)))
