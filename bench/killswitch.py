"""The kill switch under load: real ``tokenveil serve`` processes, N clients, the switch fired.

Each client logs in, then loops: ``GET /api/me``; on 401 it refreshes and retries once. Meanwhile
old-token probes (one per instance) keep presenting a token issued before the switch, and the
switch is fired through the CLI (``tokenveil killswitch purge``) or ``POST /admin/killswitch``.
Reported:

- **propagation delay** per instance: the instant the purge began changing state (``started``
  in the CLI's output and the endpoint's answer; before the emergency key rotation, which
  already rejects old tokens) → the first rejection of an old token on that instance. It
  includes the purge's own work. (The cut-off value itself may lie up to a second ahead after an
  earlier purge, so it is not the reference.)
- **old tokens accepted after the propagation delay**: 200s to requests with a pre-switch token
  sent after that instance's first rejection (target 0);
- **legitimate requests failed**: a request of a client whose family survives the purge that
  still fails after one refresh and one retry (target 0);
- with ``--dpop``, half the clients are DPoP-bound (``DPoPAuth``) and the switch uses
  ``--revoke-families unbound``: bound clients renew, bearer clients must log in again.

Run one SQLite instance: ``python -m bench.killswitch --clients 60 --seconds 6``; several on
PostgreSQL + Redis: ``--instances 2 --database-url postgresql+asyncpg://postgres@127.0.0.1/DB
--redis-url redis://127.0.0.1:6379/0``. The same machinery backs
``tests/defence_integration/test_e2e_killswitch.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.serving import Server, base_env, cli, serving
from tokenveil.dpop import DPoPAuth
from tokenveil.keys._b64 import b64url_encode

PASSWORD = "killswitch-bench-password"
DEMO_CLIENT = "tokenveil-demo"
DPOP_CLIENT = "bench-dpop"


@dataclass
class Session:
    """One client: its instance, its tokens, and whether the purge should spare it."""

    base: str
    refresh: str = field(repr=False)
    access: str = field(repr=False)
    old_access: str = field(repr=False)
    auth: DPoPAuth | None = None
    survives: bool = True
    dead: bool = False


@dataclass
class Figures:
    requests: int = 0
    refreshes: int = 0
    legit_failed: int = 0
    must_login_again: int = 0
    old_accepted_after: int = 0
    old_rejected: int = 0
    #: When the purge began changing state (the server's wall clock: same machine).
    started: float = 0.0
    #: Per instance: when the first old-token rejection was received, and when that request
    #: was sent (under load the gap is queueing in the server, not propagation).
    first_rejection: dict[str, float] = field(default_factory=dict)
    first_rejection_sent: dict[str, float] = field(default_factory=dict)

    def propagation(self) -> dict[str, float]:
        """Purge started → first old-token rejection received, per instance."""
        return {base: at - self.started for base, at in self.first_rejection.items()}

    def summary(self) -> str:
        delays = ", ".join(f"{d * 1000:.0f} ms" for d in self.propagation().values()) or "none"
        sent = ", ".join(
            f"{(at - self.started) * 1000:+.0f} ms" for at in self.first_rejection_sent.values()
        )
        return (
            f"requests={self.requests} refreshes={self.refreshes} "
            f"propagation=[{delays}] (that request sent at [{sent}]) "
            f"old_accepted_after_propagation={self.old_accepted_after} "
            f"old_rejected={self.old_rejected} legit_failed={self.legit_failed} "
            f"must_login_again={self.must_login_again}"
        )


def _form(session: Session, **fields: str) -> dict[str, str]:
    client_id = DPOP_CLIENT if session.auth is not None else DEMO_CLIENT
    return {"client_id": client_id, **fields}


async def login(
    http: httpx.AsyncClient, base: str, username: str, *, dpop: bool, survives: bool
) -> Session:
    auth = DPoPAuth() if dpop else None
    data = {
        "grant_type": "password",
        "username": username,
        "password": PASSWORD,
        "client_id": DPOP_CLIENT if dpop else DEMO_CLIENT,
    }
    answer = await http.post(
        f"{base}/oauth/token", data=data, auth=auth or httpx.USE_CLIENT_DEFAULT
    )
    answer.raise_for_status()
    body = answer.json()
    if auth is not None:
        auth.access_token = body["access_token"]
    return Session(
        base, body["refresh_token"], body["access_token"], body["access_token"], auth, survives
    )


async def _me(http: httpx.AsyncClient, session: Session, token: str) -> int:
    if session.auth is not None:
        session.auth.access_token = token
        answer = await http.get(f"{session.base}/api/me", auth=session.auth)
    else:
        answer = await http.get(
            f"{session.base}/api/me", headers={"Authorization": f"Bearer {token}"}
        )
    return answer.status_code


async def _refresh(http: httpx.AsyncClient, session: Session) -> bool:
    auth = session.auth
    if auth is not None:
        auth.access_token = None  # the token endpoint takes a proof without ath
    answer = await http.post(
        f"{session.base}/oauth/token",
        data=_form(session, grant_type="refresh_token", refresh_token=session.refresh),
        auth=auth or httpx.USE_CLIENT_DEFAULT,
    )
    if answer.status_code != 200:
        return False
    body = answer.json()
    session.access, session.refresh = body["access_token"], body["refresh_token"]
    return True


async def client_loop(
    http: httpx.AsyncClient, session: Session, figures: Figures, stop: asyncio.Event, pace: float
) -> None:
    """The legitimate client: call, on 401 refresh and retry once."""
    while not stop.is_set() and not session.dead:
        figures.requests += 1
        sent = time.time()
        status = await _me(http, session, session.access)
        if status == 200:
            _old_accepted(figures, session, session.access, sent)
        elif status == 401:
            _old_rejected(figures, session, session.access, sent)
            figures.refreshes += 1
            if not await _refresh(http, session):
                session.dead = True
                if session.survives:
                    figures.legit_failed += 1
                else:
                    figures.must_login_again += 1
                break
            if await _me(http, session, session.access) != 200 and session.survives:
                figures.legit_failed += 1
        elif session.survives:
            figures.legit_failed += 1
        await asyncio.sleep(pace)


async def old_token_probe(
    http: httpx.AsyncClient, session: Session, figures: Figures, stop: asyncio.Event, pace: float
) -> None:
    """Keeps presenting a pre-switch token to one instance: where the switch shows first."""
    while not stop.is_set():
        sent = time.time()
        status = await _me(http, session, session.old_access)
        if status == 200:
            _old_accepted(figures, session, session.old_access, sent)
        elif status == 401:
            _old_rejected(figures, session, session.old_access, sent)
        await asyncio.sleep(pace)


def _old_rejected(figures: Figures, session: Session, token: str, sent: float) -> None:
    if token == session.old_access:
        figures.old_rejected += 1
        if session.base not in figures.first_rejection:
            figures.first_rejection[session.base] = time.time()
            figures.first_rejection_sent[session.base] = sent


def _old_accepted(figures: Figures, session: Session, token: str, sent: float) -> None:
    first = figures.first_rejection.get(session.base)
    if token == session.old_access and first is not None and sent > first:
        figures.old_accepted_after += 1


Fire = Callable[[], Awaitable[float]]


async def run(
    sessions: list[Session],
    probes: list[Session],
    fire: Fire,
    *,
    before: float = 1.0,
    after: float = 3.0,
    pace: float = 0.01,
) -> Figures:
    """Clients and probes run ``before`` seconds, the switch fires, they run ``after`` more."""
    figures = Figures()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=len(sessions) + len(probes) + 4)
    async with httpx.AsyncClient(timeout=15, limits=limits) as http:
        tasks = [
            asyncio.create_task(client_loop(http, s, figures, stop, pace)) for s in sessions
        ] + [asyncio.create_task(old_token_probe(http, p, figures, stop, pace / 5)) for p in probes]
        await asyncio.sleep(before)
        figures.started = await fire()
        await asyncio.sleep(after)
        stop.set()
        await asyncio.gather(*tasks)
    return figures


def fire_with_cli(data_dir: Path, env: Mapping[str, str], *args: str) -> Fire:
    """``tokenveil killswitch purge ARGS`` in a subprocess; returns when the purge began."""

    async def fire() -> float:
        out = await asyncio.to_thread(cli, data_dir, env, "killswitch", "purge", *args)
        found = re.search(r"started=([0-9.]+)", out)
        if found is None:
            raise RuntimeError("the CLI did not report when the cut-off was stored")
        return float(found.group(1))

    return fire


def fire_with_endpoint(base: str, client_id: str, secret: str, **body: object) -> Fire:
    """``POST /admin/killswitch`` with a client_credentials token; returns when it began."""

    async def fire() -> float:
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": "admin:killswitch"},
                auth=(client_id, secret),
            )
            token.raise_for_status()
            answer = await http.post(
                "/admin/killswitch",
                json=body,
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            answer.raise_for_status()
            return float(answer.json()["started_at"])

    return fire


async def setup_store(data_dir: Path, env: Mapping[str, str], users: int) -> str | None:
    """Users ``u0..uN``, the DPoP-bound client and an admin client, written to the store
    directly (in process: quicker than one CLI process each). Returns the admin secret."""
    from tokenveil.config import Settings
    from tokenveil.service import TokenService

    service = await TokenService.open(Settings.from_env(env, data_dir=data_dir))
    try:
        for n in range(users):
            await service.add_user(f"u{n}", PASSWORD, scopes=["profile", "orders"])
        await service.add_client(DPOP_CLIENT, scopes=["profile"], dpop_bound=True)
        _, secret = await service.add_client(
            "bench-admin",
            scopes=["admin:killswitch"],
            grant_types=["client_credentials"],
            confidential=True,
        )
        return secret
    finally:
        await service.close()


def default_env(poll: float, **extra: str) -> dict[str, str]:
    return base_env(
        {
            "TOKENVEIL_KEK": b64url_encode(secrets.token_bytes(32)),
            "TOKENVEIL_STATE_POLL_INTERVAL": str(poll),
            **extra,
        }
    )


async def scenario(
    servers: list[Server],
    *,
    clients: int,
    users: int,
    dpop: bool,
    fire: Fire,
    after: float,
) -> Figures:
    async with httpx.AsyncClient(timeout=30) as http:
        # Concurrent logins: password hashing runs in worker threads on the server.
        sessions = await asyncio.gather(
            *(
                login(
                    http,
                    servers[n % len(servers)].base,
                    f"u{n % users}",
                    dpop=dpop and n % 2 == 1,
                    survives=not (dpop and n % 2 == 0),
                )
                for n in range(clients)
            )
        )
        probes = await asyncio.gather(
            *(login(http, s.base, "u0", dpop=False, survives=False) for s in servers)
        )
    return await run(list(sessions), list(probes), fire, after=after)


async def monitor_cost(rounds: int = 20_000, redis_url: str | None = None) -> str:
    """Microseconds per request spent verifying (repeat path) and monitoring, in process."""
    import tempfile

    from tokenveil.config import Settings
    from tokenveil.service import TokenService
    from tokenveil.store import MemoryStore

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            kek=b64url_encode(secrets.token_bytes(32)),
            monitoring=True,
            redis_url=redis_url,
            redis_prefix=f"tvbench:{secrets.token_hex(4)}:",
        )
        service = await TokenService.open(settings, store=None if redis_url else MemoryStore())
        try:
            token = service.issuer.issue(sub="usr_bench", client_id="c", scope=["profile"]).token
            principal = service.verify(token)
            scope = {
                "type": "http",
                "client": ("203.0.113.7", 50000),
                "headers": [(b"user-agent", b"bench/1.0")],
            }
            started = time.perf_counter()
            for _ in range(rounds):
                service.verify(token)
            verify_us = (time.perf_counter() - started) / rounds * 1e6
            started = time.perf_counter()
            for _ in range(rounds):
                await service.defence.observe(principal, scope)
            observe_us = (time.perf_counter() - started) / rounds * 1e6
        finally:
            await service.close()
    where = "Redis windows (one round trip)" if redis_url else "in-memory windows"
    return (
        f"monitor cost ({where}): verify (repeat) {verify_us:.2f} µs, "
        f"observe {observe_us:.1f} µs per request"
    )


async def _forget_prefix(redis_url: str, prefix: str) -> None:
    """Delete the bench's own Redis keys (and only those)."""
    from tokenveil.store.redis import connect

    client = connect(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0, help="run after the switch")
    parser.add_argument("--poll", type=float, default=1.0, help="state_poll_interval")
    parser.add_argument("--via", choices=("cli", "endpoint"), default="cli")
    parser.add_argument("--dpop", action="store_true", help="half DPoP-bound, revoke unbound")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument(
        "--monitor-cost", action="store_true", help="only measure the monitor's per-request cost"
    )
    args = parser.parse_args(sys.argv[2:] if sys.argv[1:2] == ["killswitch"] else None)
    if args.monitor_cost:
        print(asyncio.run(monitor_cost(redis_url=args.redis_url)))
        return

    import tempfile

    extra: dict[str, str] = {}
    if args.database_url:
        extra["TOKENVEIL_DATABASE_URL"] = args.database_url
    if args.redis_url:
        extra["TOKENVEIL_REDIS_URL"] = args.redis_url
        extra["TOKENVEIL_REDIS_PREFIX"] = f"tvbench:{secrets.token_hex(4)}:"
    env = default_env(args.poll, **extra)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        secret = asyncio.run(setup_store(data_dir, env, args.users))
        with serving(data_dir, env, args.instances) as servers:
            families = "unbound" if args.dpop else "suspect"
            if args.via == "endpoint" and secret:
                fire = fire_with_endpoint(
                    servers[0].base, "bench-admin", secret, revoke_families=families
                )
            else:
                fire = fire_with_cli(data_dir, env, "--revoke-families", families)
            figures = asyncio.run(
                scenario(
                    servers,
                    clients=args.clients,
                    users=args.users,
                    dpop=args.dpop,
                    fire=fire,
                    after=args.seconds,
                )
            )
    if args.redis_url:
        asyncio.run(_forget_prefix(args.redis_url, extra["TOKENVEIL_REDIS_PREFIX"]))
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"killswitch: {args.clients} clients, {args.instances} instance(s) on {store}"
        f"{' + Redis' if args.redis_url else ''}, poll {args.poll} s, via {args.via}"
        f"{', half DPoP-bound, --revoke-families unbound' if args.dpop else ''}"
    )
    print("  " + figures.summary())


if __name__ == "__main__":
    main()
