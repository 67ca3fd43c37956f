"""What only the SQL store promises: persistence, shared state between processes, SQLite pragmas,
schema creation racing safely, and driver errors translated at the boundary."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from tests.conftest import free_port
from tests.store.test_contract import NOW, family, key, record, user
from tokenveil.errors import ConfigurationError, StoreError, StoreUnavailable
from tokenveil.store import SecurityEvent
from tokenveil.store.sql import SqlStore

SqlFactory = Callable[[], SqlStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_factory(request: pytest.FixtureRequest, tmp_path: Path) -> SqlFactory:
    """Makes unopened SqlStores that share one database, as two processes would."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tokenveil.sqlite3'}"
        return lambda: SqlStore(url)
    pg_url: str = request.getfixturevalue("postgres_url")
    schema = f"t_{secrets.token_hex(6)}"
    return lambda: SqlStore(pg_url, schema=schema)


async def test_two_stores_race_on_one_database(sql_factory: SqlFactory) -> None:
    """Two SqlStores (two processes) consuming one token 20 times: exactly one ``ok``."""
    first, second = sql_factory(), sql_factory()
    async with first, second:
        await first.create_family(family(), record("race"))
        results = await asyncio.gather(
            *(s.consume("race", NOW + i) for i, s in enumerate([first, second] * 10))
        )
    assert sorted(r.status for r in results) == ["ok"] + ["reused"] * 19


async def test_two_stores_race_to_rotate_on_one_database(sql_factory: SqlFactory) -> None:
    """Two SqlStores rotating one token 20 times: one ``ok``, one successor stored."""
    first, second = sql_factory(), sql_factory()
    async with first, second:
        await first.create_family(family(), record("race"))
        stores = [first, second] * 10
        results = await asyncio.gather(
            *(s.rotate("race", record(f"next-{i}"), NOW + i) for i, s in enumerate(stores))
        )
        assert sorted(r.status for r in results) == ["ok"] + ["reused"] * 19
        stored = [i for i in range(20) if (await second.peek(f"next-{i}")).status == "ok"]
        assert len(stored) == 1
        assert results[stored[0]].status == "ok"


async def test_concurrent_open_creates_the_schema_once(sql_factory: SqlFactory) -> None:
    """Three stores opening a fresh database at once all succeed and see one state row."""
    stores = [sql_factory() for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert await stores[0].bump_state_version() == 1
        assert [await s.state_version() for s in stores] == [1, 1, 1]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_state_survives_close_and_reopen(sql_factory: SqlFactory) -> None:
    """Everything written before a restart is there after it, and open() is idempotent."""
    async with sql_factory() as before:
        await before.open()
        await before.add_user(user())
        await before.put_key(key("k1", NOW))
        await before.create_family(family(), record("h1"))
        assert (await before.consume("h1", NOW)).status == "ok"
        await before.revoke_jti("j1", NOW + 60)
        await before.set_cutoff(NOW)
        await before.record_event(SecurityEvent("login", NOW, {"sub": "u1"}))
        version = await before.state_version()

    async with sql_factory() as after:
        assert await after.get_user("u1") == user()
        assert await after.list_keys() == [key("k1", NOW)]
        assert (await after.consume("h1", NOW + 1)).status == "reused"
        assert await after.revoked_jtis(NOW) == {"j1"}
        assert await after.get_cutoff() == NOW
        assert await after.state_version() == version
        assert [e.kind for e in await after.list_events()] == ["login"]


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    """The SQLite file is in WAL mode, owner-only, and enforces foreign keys."""
    path = tmp_path / "nested" / "dir" / "tv.sqlite3"
    async with SqlStore(f"sqlite:///{path}") as store:
        with pytest.raises(StoreError):
            await store.add_token(record("orphan", fid="missing-family"))
    assert path.read_bytes()[18:20] == b"\x02\x02"  # header bytes 18-19 are 2 only in WAL mode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_unopened_store_refuses_work(tmp_path: Path) -> None:
    """Calling a store before open() (or after close()) is a StoreError, not a crash."""
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    with pytest.raises(StoreError, match="not open"):
        await store.list_users()
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.state_version()


async def test_closed_postgres_port_raises_store_unavailable() -> None:
    """A PostgreSQL URL pointing at a closed port raises StoreUnavailable, chained to the cause."""
    store = SqlStore(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test")
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(StoreError, match="not open"):
        await store.list_keys()


@pytest.mark.postgres
async def test_missing_postgres_database_raises_store_unavailable(postgres_url: str) -> None:
    """A database that does not exist is unavailable, not a raw asyncpg error."""
    missing = postgres_url.rsplit("/", 1)[0] + "/tokenveil_no_such_database"
    with pytest.raises(StoreUnavailable):
        await SqlStore(missing).open()


async def test_unwritable_sqlite_path_raises_store_unavailable(tmp_path: Path) -> None:
    """A SQLite path below a regular file cannot be created: StoreUnavailable."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailable):
        await SqlStore(f"sqlite+aiosqlite:///{blocker / 'tv.sqlite3'}").open()


def test_repr_and_errors_never_show_the_password() -> None:
    """The repr masks the password; a bad URL's error does not echo it."""
    store = SqlStore("postgresql+asyncpg://app:hunter2-secret@db.internal/tokenveil")
    assert "hunter2-secret" not in repr(store)
    assert "db.internal" in repr(store)
    with pytest.raises(ConfigurationError) as caught:
        SqlStore("mysql+aiomysql://app:hunter2-secret@db/x")
    assert "hunter2-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        ("sqlite+pysqlite:///x.db", None),
        ("sqlite+aiosqlite://", None),
        ("sqlite+aiosqlite:///:memory:", None),
        ("postgresql+psycopg2://h/db", None),
        ("sqlite+aiosqlite:///x.db", "tenant"),
        ("postgresql+asyncpg://h/db", "Robert'); DROP TABLE x;--"),
    ],
)
def test_unsupported_urls_and_schemas_are_configuration_errors(
    url: str, schema: str | None
) -> None:
    """Sync drivers, in-memory SQLite, schemas on SQLite and odd schema names are refused."""
    with pytest.raises(ConfigurationError):
        SqlStore(url, schema=schema)


class _Proxy:
    """A TCP relay to PostgreSQL that a test can cut, as a network partition would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        await self._server.wait_closed()


@pytest.mark.postgres
async def test_postgres_lost_mid_life_raises_store_unavailable(postgres_url: str) -> None:
    """When PostgreSQL vanishes under an open store, calls raise StoreUnavailable (invariant 9)."""
    proxy = _Proxy(5432)
    await proxy.start()
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    store = SqlStore(url, schema=f"t_{secrets.token_hex(6)}", connect_timeout=1.0)
    await store.open()
    try:
        await store.revoke_jti("j", NOW + 60)
        assert await store.revoked_jtis(NOW) == {"j"}
        await proxy.cut()
        with pytest.raises(StoreUnavailable):
            await store.revoked_jtis(NOW)
        with pytest.raises(StoreUnavailable):
            await store.consume("h", NOW)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_two_processes_race_on_one_database(postgres_url: str) -> None:
    """This process and a worker process, ten concurrent consumes each, one token: one ``ok``.

    PostgreSQL only: it is the multi-instance deployment, and SQLite's cross-connection race is
    already covered by ``test_two_stores_race_on_one_database`` at a fraction of the cost.
    """
    url, schema = postgres_url, f"t_{secrets.token_hex(6)}"
    async with SqlStore(url, schema=schema) as store:
        await store.create_family(family(), record("race"))
        await asyncio.gather(*(store.state_version() for _ in range(10)))  # warm the pool
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store._race_worker",
            url,
            schema or "",
            "race",
            "10",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).parents[2],
        )
        assert worker.stdout is not None
        # The worker is connected before either side starts consuming.
        assert await asyncio.wait_for(worker.stdout.readline(), 30) == b"ready\n"
        talk = asyncio.ensure_future(worker.communicate(b"go\n"))
        here = await asyncio.gather(*(store.consume("race", NOW) for _ in range(10)))
        out, _ = await talk
    assert worker.returncode == 0
    there: list[str] = json.loads(out)
    assert len(there) == 10
    assert sorted([r.status for r in here] + there) == ["ok"] + ["reused"] * 19


async def test_chained_driver_error_hides_statement_parameters(tmp_path: Path) -> None:
    """A driver error chained under StoreUnavailable shows the SQL but never the values bound."""
    path = tmp_path / "tv.sqlite3"
    async with SqlStore(f"sqlite:///{path}") as store:
        with sqlite3.connect(path) as other:  # another process breaks the schema under us
            other.execute("DROP TABLE tv_users")
        with pytest.raises(StoreUnavailable) as caught:
            await store.add_user(user(username="erin.private"))
    cause = caught.value.__cause__
    assert isinstance(cause, sa_exc.OperationalError)
    assert "tv_users" in str(cause)
    assert "erin.private" not in str(cause)
    assert "erin.private" not in repr(caught.value)
