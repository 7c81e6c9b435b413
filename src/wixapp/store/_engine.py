"""Engines for both drivers, with the SQLite settings the store relies on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from wixapp.config import DEFAULT_SQLITE_BUSY_TIMEOUT
from wixapp.store._urls import async_database_url, is_sqlite, sync_database_url

__all__ = ["make_engine", "make_migration_engine", "make_sync_engine", "sqlite_busy_timeout"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",  # readers never block the writer, nor it them
    "PRAGMA foreign_keys = ON",  # off by default in SQLite
)
# Where an engine keeps its busy_timeout, for the log line that explains a write refused.
_BUSY_TIMEOUT_OPTION = "wixapp_sqlite_busy_timeout"


def make_engine(
    database_url: str,
    *,
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT,
    **options: Any,
) -> AsyncEngine:
    """The application's AsyncEngine; ``options`` go to ``create_async_engine``.
    ``sqlite_busy_timeout``: seconds a SQLite writer waits for the write lock."""
    url = async_database_url(database_url)
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, **options)
    _create_parent_directory(url)
    options = _with_busy_timeout(options, sqlite_busy_timeout)
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "connect", _sqlite_settings(sqlite_busy_timeout))
    return engine


def make_sync_engine(
    database_url: str,
    *,
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT,
    **options: Any,
) -> Engine:
    """A sync Engine on the same database, with the same SQLite settings, for sync code
    (Flask views, WSGI jobs); ``options`` go to ``create_engine``."""
    url = sync_database_url(database_url)
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **options)
    _create_parent_directory(url)
    options = _with_busy_timeout(options, sqlite_busy_timeout)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_settings(sqlite_busy_timeout))
    return engine


def sqlite_busy_timeout(engine: Engine) -> float | None:
    """The busy_timeout (seconds) a SQLite engine made here sets; None for any other."""
    value = engine.get_execution_options().get(_BUSY_TIMEOUT_OPTION)
    return None if value is None else float(value)


def _with_busy_timeout(options: dict[str, Any], seconds: float) -> dict[str, Any]:
    if not seconds > 0:
        raise ValueError(f"sqlite_busy_timeout must be a positive number of seconds: {seconds}")
    execution_options = {**options.get("execution_options", {}), _BUSY_TIMEOUT_OPTION: seconds}
    return {**options, "execution_options": execution_options}


def make_migration_engine(database_url: str) -> Engine:
    """A sync engine whose transactions lock out other migrators from their first statement."""
    url = sync_database_url(database_url)
    engine = create_engine(url, poolclass=NullPool)
    if is_sqlite(url):
        _create_parent_directory(url)
        event.listen(engine, "connect", _set_pragmas_and_manual_begin)
        event.listen(engine, "begin", _begin_immediate)
    return engine


def _create_parent_directory(url: URL) -> None:
    Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_settings(busy_timeout: float) -> Callable[[Any, object], None]:
    """The "connect" listener that applies the store's SQLite settings to a connection."""

    def apply(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        # Writers queue this long for the one write lock instead of failing at once; set
        # first, so the pragmas below wait too.
        cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return apply


def _set_pragmas_and_manual_begin(dbapi_connection: Any, record: object) -> None:
    _sqlite_settings(DEFAULT_SQLITE_BUSY_TIMEOUT)(dbapi_connection, record)
    # Batch migrations rebuild tables by dropping them, which would fire ON DELETE CASCADE.
    dbapi_connection.execute("PRAGMA foreign_keys = OFF")
    # pysqlite would run DDL outside any transaction; _begin_immediate opens one instead.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    # Takes the write lock up front, so concurrent migrators wait rather than interleave.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
