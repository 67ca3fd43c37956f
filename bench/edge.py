"""The PII-safe edge: what log redaction and a fully protected endpoint cost.

1. Log records: µs per typical record through a stdlib handler, plain vs the redaction filter
   (``default_chain()``: headers, bearer, JWT, secret fields, query values, PII engine).
2. Requests/s of one small JSON endpoint served by a real uvicorn on 127.0.0.1:
   - ``tutorial``: the FastAPI tutorial's check (``OAuth2PasswordBearer`` + ``jwt.decode``
     HS256 with PyJWT), returning the record as is;
   - ``tokenveil``: ``create_app`` (hardened: transport rules, error boundary, CSRF check,
     egress filter in mask mode, redacted logs incl. uvicorn's access log) + ``require_scopes``
     + the field policy (``Present``) on a model with a declared PII field.
   Both servers write uvicorn's access log. The load generator is a raw keep-alive HTTP/1.1
   client (asyncio, pre-built requests, 127.0.0.1 only, bounded by a request count and a
   time limit) in this process; each server runs in a child process. The loads alternate in
   rounds; per round the bench records the wall-clock rate and the server process's CPU time
   (utime + stime from ``/proc/<pid>/stat``), i.e. CPU µs per request. The CPU ratio
   tutorial_cpu_per_request / tokenveil_cpu_per_request is the throughput ratio of a CPU-bound
   single worker. Budget (DESIGN.md): tokenveil keeps ≥ 85% of the tutorial's requests/s.

3. The same two apps called in-process (direct ASGI calls): the app-level cost per request,
   steadier on a busy machine than the server figures.

Run: ``python -m bench.edge`` (``make bench`` runs every benchmark).
"""

# No ``from __future__ import annotations``: the apps below define their dependencies inside
# functions, and FastAPI resolves string annotations only against module globals.
import asyncio
import io
import logging
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

ITEM: dict[str, str] = {
    "id": "itm_42",
    "owner_id": "usr_bench",
    "title": "Tea set",
    "email": "jane.doe@example.com",
}
TUTORIAL_SECRET = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
CONNECTIONS = 16
WARMUP = 300
REQUESTS = 12000
LOAD_TIMEOUT = 60.0  # seconds: one load of one round never runs longer than this
LOG_RECORDS = 20_000


# --- 1. log records ------------------------------------------------------------------------------


class _Sink(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _time_records(logger: logging.Logger, jwt_value: str) -> float:
    # Ports, ids and tokens vary per record, as in a real access log: no cache hit for free.
    start = time.perf_counter()
    for i in range(LOG_RECORDS):
        if i % 10 == 0:  # one record in ten carries a credential and an email
            logger.info("auth header Bearer %s%d for %s", jwt_value, i, "jane.doe@example.com")
        else:
            logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"127.0.0.1:{40000 + i % 20000}",
                "GET",
                f"/api/orders/ord_{i}?page=2",
                "1.1",
                200,
            )
    return (time.perf_counter() - start) / LOG_RECORDS * 1e6


def bench_logs() -> tuple[float, float]:
    """(plain µs/record, redacted µs/record)."""
    from tokenveil.logs import RedactingFilter, default_chain

    jwt_value = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c3JfYmVuY2gifQ." + secrets.token_urlsafe(64)
    results: list[float] = []
    for redacted in (False, True):
        logger = logging.getLogger(f"bench.edge.{'redacted' if redacted else 'plain'}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        handler = logging.StreamHandler(_Sink())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        if redacted:
            handler.addFilter(RedactingFilter(default_chain()))
        logger.addHandler(handler)
        _time_records(logger, jwt_value)  # warm-up: compiled patterns, caches
        results.append(_time_records(logger, jwt_value))
        logger.removeHandler(handler)
    return results[0], results[1]


# --- 2. the servers (run in a child process) ----------------------------------------------------


def _tutorial_app() -> Any:
    import jwt
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import OAuth2PasswordBearer

    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> str:
        credentials_exception = HTTPException(
            status_code=401,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
        try:
            payload = jwt.decode(token, TUTORIAL_SECRET, algorithms=["HS256"])
        except jwt.InvalidTokenError as exc:
            raise credentials_exception from exc
        username = payload.get("sub")
        if not isinstance(username, str):
            raise credentials_exception
        return username

    @app.get("/bench/item")
    async def item(user: Annotated[str, Depends(get_current_user)]) -> dict[str, str]:
        return ITEM

    return app


def _settings(data_dir: Path) -> Any:
    from tokenveil.config import Settings

    kek_file = data_dir / "kek.key"
    return Settings(
        issuer="http://127.0.0.1", data_dir=data_dir, kek_file=kek_file, development=True
    )


def _tokenveil_app(data_dir: Path) -> Any:
    from pydantic import BaseModel

    from tokenveil.server import create_app
    from tokenveil.web.deps import require_scopes
    from tokenveil.web.fields import PII, Present

    class Item(BaseModel):
        id: str
        owner_id: str
        title: str
        email: Annotated[str, PII("EMAIL", reveal="pii:email:read", mask="partial")]

    record = Item(**ITEM)
    app = create_app(_settings(data_dir))  # background sync on, as `tokenveil serve` runs

    @app.get("/bench/item", response_model=Item, dependencies=[require_scopes("profile")])
    async def item(present: Present) -> Any:
        return await present(record)

    # Same place in the route list as in the tutorial app (right after FastAPI's own docs
    # routes): a router tries routes in order, and the token server's ten routes in front of
    # it measured as a cost of the app's size, the same for any auth, not of the protection.
    routes = app.router.routes
    routes.insert(4, routes.pop())
    assert [getattr(r, "path", None) for r in routes[3:5]] == ["/redoc", "/bench/item"]
    return app


def _serve(kind: str, port: int, data_dir: str) -> None:
    import uvicorn

    from tokenveil.logs import uvicorn_log_config

    if kind == "tutorial":
        app, log_config = _tutorial_app(), None
    else:
        app, log_config = _tokenveil_app(Path(data_dir)), uvicorn_log_config()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=True,
        log_config=log_config if log_config is not None else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
    )


# --- 2. the load generator -----------------------------------------------------------------------


async def _tokenveil_token(data_dir: Path) -> str:
    from tokenveil.server import DEMO_CLIENT_ID, ensure_demo_client
    from tokenveil.service import TokenService

    service = await TokenService.open(_settings(data_dir))
    try:
        await ensure_demo_client(service)
        password = secrets.token_urlsafe(16)
        await service.add_user("bench", password, scopes=["profile"])
        client = await service.store.get_client(DEMO_CLIENT_ID)
        assert client is not None
        answer = await service.password_grant(client, "bench", password, "profile")
        return answer.access_token
    finally:
        await service.close()


def _tutorial_token() -> str:
    import jwt

    return jwt.encode({"sub": "johndoe", "exp": int(time.time()) + 3600}, TUTORIAL_SECRET, "HS256")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("bench server did not start")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (Linux ``/proc/<pid>/stat``), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the ``(comm)``, which may itself hold spaces or parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(port: int, token: str, total: int) -> tuple[float, int, int]:
    """(requests/s, requests answered, non-200 answers) for ``total`` requests over
    CONNECTIONS keep-alive sockets on 127.0.0.1; bounded by LOAD_TIMEOUT seconds too."""
    request = (
        f"GET /bench/item HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    remaining = total
    done = 0
    errors = 0

    async def worker() -> None:
        nonlocal remaining, done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(request)
                if await _read_response(reader) != 200:
                    errors += 1
                done += 1
        finally:
            writer.close()

    start = time.perf_counter()
    workers = [asyncio.ensure_future(worker()) for _ in range(CONNECTIONS)]
    _, late = await asyncio.wait(workers, timeout=LOAD_TIMEOUT)
    for task in late:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    elapsed = time.perf_counter() - start
    return done / elapsed, done, errors + (total - done)


_ROOT = Path(__file__).resolve().parent.parent
_PYTHONPATH = os.environ.get("PYTHONPATH", "")
ROUNDS = 12


async def _start(kind: str, data_dir: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.edge",
        "serve",
        kind,
        str(port),
        str(data_dir),
        cwd=_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(_ROOT), _PYTHONPATH)))},
    )
    await _wait_ready(port, time.monotonic() + 30)
    return server, port


@dataclass
class _Rounds:
    """Per-round figures of one server."""

    rates: list[float] = field(default_factory=list)  # wall-clock requests/s
    cpu_us: list[float] = field(default_factory=list)  # server CPU µs per request


async def _compare() -> tuple[_Rounds, _Rounds, int]:
    """Both servers up at once; loads interleaved so a busy machine hits both alike.

    Besides the wall-clock rate, each round reads the server process's CPU time (utime +
    stime) before and after: CPU per request hardly moves with the machine's load, and for a
    CPU-bound single worker its inverse is the throughput the server would reach alone.
    """
    with tempfile.TemporaryDirectory(prefix="tokenveil-bench-") as tmp:
        data_dir = Path(tmp)
        tokens = {"tutorial": _tutorial_token(), "tokenveil": await _tokenveil_token(data_dir)}
        servers = {kind: await _start(kind, data_dir) for kind in tokens}
        rounds = {kind: _Rounds() for kind in tokens}
        errors = 0
        try:
            for kind, (_, port) in servers.items():
                await _load(port, tokens[kind], WARMUP)
            order = list(servers.items())
            for round_ in range(ROUNDS):
                # Alternate which server goes first: neither always inherits the other's wake.
                for kind, (server, port) in order if round_ % 2 == 0 else order[::-1]:
                    cpu_before = _cpu_seconds(server.pid)
                    rate, done, bad = await _load(port, tokens[kind], REQUESTS // ROUNDS)
                    cpu = _cpu_seconds(server.pid) - cpu_before
                    rounds[kind].rates.append(rate)
                    rounds[kind].cpu_us.append(cpu / max(done, 1) * 1e6)
                    errors += bad
        finally:
            for server, _ in servers.values():
                server.terminate()
                await asyncio.wait_for(server.wait(), timeout=10)
        return rounds["tutorial"], rounds["tokenveil"], errors


@dataclass
class RequestFigures:
    tutorial_rate: float  # median wall-clock req/s
    tokenveil_rate: float
    tutorial_cpu_us: float  # median server CPU µs per request
    tokenveil_cpu_us: float
    wall_ratios: list[float]  # per round: tokenveil req/s / tutorial req/s
    cpu_ratios: list[float]  # per round: tutorial CPU/req / tokenveil CPU/req
    best_cpu_ratio: float  # tutorial's lowest CPU/req / tokenveil's lowest CPU/req
    errors: int  # non-200 answers and requests cut by the time bound


def bench_requests() -> RequestFigures:
    """Medians of the servers' figures and the per-round ratios.

    Each round loads one server right after the other: the ratio of a round compares the two
    under the same machine load, so the median ratio is steadier than a ratio of medians.
    """
    tutorial, protected, errors = asyncio.run(_compare())
    return RequestFigures(
        tutorial_rate=statistics.median(tutorial.rates),
        tokenveil_rate=statistics.median(protected.rates),
        tutorial_cpu_us=statistics.median(tutorial.cpu_us),
        tokenveil_cpu_us=statistics.median(protected.cpu_us),
        wall_ratios=[p / t for p, t in zip(protected.rates, tutorial.rates, strict=True)],
        cpu_ratios=[t / p for p, t in zip(protected.cpu_us, tutorial.cpu_us, strict=True)],
        best_cpu_ratio=min(tutorial.cpu_us) / min(protected.cpu_us),
        errors=errors,
    )


def _spread(ratios: list[float]) -> str:
    verdict = "meets" if statistics.median(ratios) >= 0.85 else "MISSES"
    return (
        f"{statistics.median(ratios):.2f} median of {len(ratios)} rounds (min {min(ratios):.2f},"
        f" max {max(ratios):.2f}): {verdict} the 0.85 budget"
    )


# --- 3. the same two apps without a server: what the middleware and policy cost per request ----


def _scope(token: str, port: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/bench/item",
        "raw_path": b"/bench/item",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", port),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _asgi_call(app: Any, token: str, port: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(_scope(token, port), receive, send)
    if status != [200]:
        raise RuntimeError(f"bench app answered {status}")


async def _app_level() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="tokenveil-bench-") as tmp:
        data_dir = Path(tmp)
        token = await _tokenveil_token(data_dir)
        protected, tutorial = _tokenveil_app(data_dir), _tutorial_app()
        tutorial_token = _tutorial_token()
        timings: dict[str, list[float]] = {"tutorial": [], "tokenveil": []}
        async with protected.router.lifespan_context(protected):
            for _ in range(200):
                await _asgi_call(protected, token, 50000)
                await _asgi_call(tutorial, tutorial_token, 50000)
            for _ in range(ROUNDS):
                for kind, app, tok in (
                    ("tutorial", tutorial, tutorial_token),
                    ("tokenveil", protected, token),
                ):
                    start = time.perf_counter()
                    for i in range(500):
                        await _asgi_call(app, tok, 50000 + i % CONNECTIONS)
                    timings[kind].append((time.perf_counter() - start) / 500 * 1e6)
        return statistics.median(timings["tutorial"]), statistics.median(timings["tokenveil"])


def main() -> None:
    plain, redacted = bench_logs()
    print("edge: log records (stdlib handler, 1 in 10 carries a JWT and an email)")
    print(f"  plain logging     {plain:8.2f} µs/record")
    print(f"  redacted logging  {redacted:8.2f} µs/record  (+{redacted - plain:.2f} µs)")
    app_tutorial, app_protected = asyncio.run(_app_level())
    print("edge: the same two apps called in-process (no server, no socket), median of rounds")
    print(f"  FastAPI tutorial (PyJWT HS256)       {app_tutorial:8.0f} µs/request")
    print(
        f"  tokenveil (hardened + policy + auth)  {app_protected:8.0f} µs/request"
        f"  (+{app_protected - app_tutorial:.0f} µs)"
    )
    figures = bench_requests()
    print(
        f"edge: GET /bench/item on uvicorn, {CONNECTIONS} keep-alive connections, "
        f"{REQUESTS} requests each in {ROUNDS} interleaved rounds (medians)"
    )
    print("                                        wall req/s   server CPU µs/request")
    print(
        f"  FastAPI tutorial (PyJWT HS256)       {figures.tutorial_rate:8.0f}"
        f"     {figures.tutorial_cpu_us:8.0f}"
    )
    print(
        f"  tokenveil (hardened + policy + auth) {figures.tokenveil_rate:8.0f}"
        f"     {figures.tokenveil_cpu_us:8.0f}"
    )
    print(f"  wall ratio (req/s)                {_spread(figures.wall_ratios)}")
    print(f"  CPU ratio (tutorial/tokenveil)    {_spread(figures.cpu_ratios)}")
    print(
        f"  CPU ratio of each server's least-disturbed round (lowest CPU/request): "
        f"{figures.best_cpu_ratio:.2f}"
    )
    print(f"  non-200 answers or unanswered requests: {figures.errors}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        _serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
