"""Engines for both drivers, with the SQLite settings the store relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from wixapp.store._urls import async_database_url, is_sqlite, sync_database_url

__all__ = ["make_engine", "make_migration_engine", "make_sync_engine"]

_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout = 10000",  # writers queue for up to 10 s instead of failing at once
    "PRAGMA journal_mode = WAL",  # readers never block the writer, nor it them
    "PRAGMA foreign_keys = ON",  # off by default in SQLite
)


def make_engine(database_url: str, **options: Any) -> AsyncEngine:
    """The application's AsyncEngine; ``options`` go to ``create_async_engine``."""
    url = async_database_url(database_url)
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, **options)
    _create_parent_directory(url)
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "connect", _set_pragmas)
    return engine


def make_sync_engine(database_url: str, **options: Any) -> Engine:
    """A sync Engine on the same database, with the same SQLite settings, for sync code
    (Flask views, WSGI jobs); ``options`` go to ``create_engine``."""
    url = sync_database_url(database_url)
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **options)
    _create_parent_directory(url)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _set_pragmas)
    return engine


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


def _set_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _set_pragmas_and_manual_begin(dbapi_connection: Any, record: object) -> None:
    _set_pragmas(dbapi_connection, record)
    # Batch migrations rebuild tables by dropping them, which would fire ON DELETE CASCADE.
    dbapi_connection.execute("PRAGMA foreign_keys = OFF")
    # pysqlite would run DDL outside any transaction; _begin_immediate opens one instead.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    # Takes the write lock up front, so concurrent migrators wait rather than interleave.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
