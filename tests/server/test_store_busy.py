"""A database too busy to take a settings write, through the backend on a real SQLite file:
every way it happens answers a retryable 503 ``store_unavailable`` with ``Retry-After``,
saves nothing (the retry with the same If-Match succeeds) and names its cause in the log
once. The timeouts are made short by configuration; none is slept through at its default.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from dbutil import make_database_url
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.server import InstanceDB, create_app
from wixapp.server import seen as seen_module
from wixapp.store import Store, make_engine, migrate
from wixapp.store import _unavailable as unavailable_module
from wixapp.testing import (
    EmulatorClock,
    InstallFactory,
    TokenFactory,
    open_backend,
    settings_for_emulator,
)

Backend = Callable[..., FastAPI]


@pytest.fixture
def sqlite_file() -> Iterator[Path]:
    with make_database_url("sqlite") as url:
        migrate(url)
        yield Path(sa.make_url(url).database or "")


@pytest.fixture(autouse=True)
def _fresh_cause_lines() -> None:
    # Each cause is logged once a minute, process-wide: every test starts from none.
    unavailable_module._logged._last.clear()


@pytest.fixture
def make_backend(
    sqlite_file: Path,
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
) -> Backend:
    def build(*, store: Store | None = None, **settings: object) -> FastAPI:
        config = settings_for_emulator(
            wix_registered_app,
            database_url=f"sqlite:///{sqlite_file}",
            WIXAPP_HTTP_RETRIES=0,
            **settings,
        )
        clock = EmulatorClock(wix_emulator_state)
        return create_app(config, store=store, wix_transport=wix_transport, clock=clock)

    return build


@pytest.fixture
def owner(wix_install: InstallFactory, wix_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": wix_token(wix_install().instance_id, "USER")}


@asynccontextmanager
async def write_lock_held(database: Path) -> AsyncIterator[None]:
    """Another process's writer: SQLite's one write lock, taken and held for the block."""
    blocker = sqlite3.connect(database, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()


async def save(
    client: httpx.AsyncClient, owner: dict[str, str], etag: str, greeting: str
) -> httpx.Response:
    return await client.put(
        "/api/settings", json={"greeting": greeting}, headers={**owner, "If-Match": etag}
    )


def cause_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wixapp.store"]


def assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"
    assert answer.headers["Retry-After"] == "1"


async def test_a_write_waiting_past_busy_timeout_is_a_retryable_503_that_saved_nothing(
    make_backend: Backend,
    sqlite_file: Path,
    owner: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_backend(WIXAPP_SQLITE_BUSY_TIMEOUT=0.05)
    with caplog.at_level(logging.WARNING, logger="wixapp"):
        async with open_backend(app) as client:
            first = await save(client, owner, '"v0"', "first")
            async with app.state.wixapp.store.engine.connect() as conn:
                applied = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
            async with write_lock_held(sqlite_file):
                refused = [await save(client, owner, first.headers["ETag"], "second")]
                refused.append(await save(client, owner, first.headers["ETag"], "second"))
            stored = await client.get("/api/settings", headers=owner)
            retried = await save(client, owner, first.headers["ETag"], "second")

    assert first.status_code == 200
    assert applied == 50  # WIXAPP_SQLITE_BUSY_TIMEOUT reached the connections, in ms
    for answer in refused:
        assert_refused(answer)
        assert "Nothing was saved" in answer.json()["detail"]
    assert stored.json()["settings"]["greeting"] == "first"
    assert (retried.status_code, retried.headers["ETag"]) == (200, '"v2"')
    lines = cause_lines(caplog)
    assert len(lines) == 1  # two refusals, one line
    assert lines[0].startswith("SQLite database is locked: a write waited for the write lock")
    for named in ("busy_timeout (0.05 s", "one writer", "WIXAPP_DATABASE_URL"):
        assert named in lines[0]
    assert "WIXAPP_SQLITE_BUSY_TIMEOUT" in lines[0]


async def test_an_exhausted_connection_pool_is_a_503_not_an_internal_error(
    make_backend: Backend,
    sqlite_file: Path,
    owner: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(f"sqlite:///{sqlite_file}", pool_size=1, max_overflow=0, pool_timeout=0.05)
    async with Store(engine) as store:
        with caplog.at_level(logging.WARNING, logger="wixapp"):
            async with open_backend(make_backend(store=store)) as client:
                async with engine.connect() as held:  # the pool's only connection
                    await held.exec_driver_sql("SELECT 1")
                    refused = await save(client, owner, '"v0"', "first")
                retried = await save(client, owner, '"v0"', "first")

    assert_refused(refused)
    assert retried.status_code == 200
    [line] = [line for line in cause_lines(caplog) if "pool" in line]
    assert line.startswith("no database connection was free within the pool's timeout")
    assert "Pool size: 1" in line


async def test_any_other_driver_error_is_a_503_naming_it(
    make_backend: Backend,
    sqlite_file: Path,
    owner: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(f"sqlite:///{sqlite_file}")

    @sa.event.listens_for(engine.sync_engine, "connect")
    def read_only(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.cursor().execute("PRAGMA query_only = ON")  # a read-only disk, say

    async with Store(engine) as store:
        with caplog.at_level(logging.WARNING, logger="wixapp"):
            async with open_backend(make_backend(store=store)) as client:
                refused = await save(client, owner, '"v0"', "first")

    assert_refused(refused)
    assert refused.json()["detail"].startswith("The database is unavailable")
    lines = [line for line in cause_lines(caplog) if line.startswith("the database failed")]
    assert lines == [
        "the database failed (OperationalError SQLITE_READONLY: attempt to write a readonly "
        "database): answered 503 store_unavailable"
    ]


notes = sa.Table(
    "busy_notes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("instance_id", sa.String(128), nullable=False),
)


def _note_routes(app: FastAPI, database: Path, *, explicit_begin: bool) -> FastAPI:
    """A route that reads, lets another process write, then writes: SQLite's deferred
    transaction would fail that write at once (SQLITE_BUSY_SNAPSHOT) had the read opened it."""

    @app.post("/api/notes")
    async def add_note(db: InstanceDB) -> dict[str, int]:
        if explicit_begin:
            await db.connection.exec_driver_sql("BEGIN")
        before = len((await db.execute(db.select(notes))).all())
        other = sqlite3.connect(database, isolation_level=None)
        other.execute("INSERT INTO busy_notes (instance_id) VALUES ('someone-else')")
        other.close()
        await db.execute(db.insert(notes))
        return {"before": before}

    return app


@pytest.fixture
def notes_table(sqlite_file: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{sqlite_file}")
    notes.metadata.create_all(engine)
    engine.dispose()


@pytest.mark.usefixtures("notes_table")
async def test_a_route_that_reads_then_writes_is_not_refused_for_a_stale_snapshot(
    make_backend: Backend, sqlite_file: Path, owner: dict[str, str]
) -> None:
    app = _note_routes(make_backend(), sqlite_file, explicit_begin=False)
    async with open_backend(app) as client:
        answers = [await client.post("/api/notes", headers=owner) for _ in range(2)]
    # The driver begins a transaction at its first write, so the read held no snapshot.
    assert [answer.status_code for answer in answers] == [200, 200]


@pytest.mark.usefixtures("notes_table")
async def test_a_transaction_begun_by_hand_before_its_read_names_the_stale_snapshot(
    make_backend: Backend,
    sqlite_file: Path,
    owner: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _note_routes(make_backend(), sqlite_file, explicit_begin=True)
    with caplog.at_level(logging.WARNING, logger="wixapp"):
        async with open_backend(app) as client:
            refused = await client.post("/api/notes", headers=owner)

    assert_refused(refused)
    [line] = [line for line in cause_lines(caplog) if "SQLITE_BUSY_SNAPSHOT" in line]
    assert "make the transaction's first statement its write" in line


async def test_background_bookkeeping_refused_by_a_busy_sqlite_logs_a_line_not_a_traceback(
    make_backend: Backend,
    sqlite_file: Path,
    owner: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen_module._refusals_logged._last.clear()
    app = make_backend(WIXAPP_SQLITE_BUSY_TIMEOUT=0.05)
    with caplog.at_level(logging.WARNING, logger="wixapp"):
        async with open_backend(app) as client:
            assert (await client.get("/api/settings", headers=owner)).status_code == 200
            seen = app.state.wixapp.seen
            async with write_lock_held(sqlite_file):
                written = [await seen.flush(), await seen.flush()]
            written.append(await seen.flush())  # kept, and written once the lock is free

    assert written == [0, 0, 1]
    refused = [r for r in caplog.records if r.getMessage().startswith("could not record last-seen")]
    assert [r.getMessage() for r in refused] == [
        "could not record last-seen for 1 instances (the database refused: store_unavailable; "
        "the wixapp.store line says why); will retry"
    ]
    assert refused[0].exc_info is None
    assert any(line.startswith("SQLite database is locked") for line in cause_lines(caplog))
