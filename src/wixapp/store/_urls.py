"""One database URL from the user, two driver spellings: async for the app, sync for Alembic."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from wixapp.errors import ConfigurationError

__all__ = ["async_database_url", "is_sqlite", "sync_database_url"]

_SQLITE = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")
_POSTGRES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async")
_ACCEPTED = "sqlite:///path/to/file.db or postgresql://user@host:port/dbname"


def async_database_url(database_url: str) -> URL:
    """The URL the application's AsyncEngine connects with."""
    return _with_driver(database_url, sqlite="sqlite+aiosqlite")


def sync_database_url(database_url: str) -> URL:
    """The URL Alembic connects with (psycopg 3 serves both sync and async)."""
    return _with_driver(database_url, sqlite="sqlite")


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _with_driver(database_url: str, *, sqlite: str) -> URL:
    url = _parse(database_url)
    if url.drivername in _SQLITE:
        return _check_sqlite_file(url.set(drivername=sqlite))
    if url.drivername in _POSTGRES:
        return url.set(drivername="postgresql+psycopg")
    raise _bad_url(f"unsupported database kind {url.drivername!r}")


def _parse(database_url: str) -> URL:
    try:
        return make_url(database_url.strip())
    except ArgumentError:
        raise _bad_url("not a database URL") from None


def _check_sqlite_file(url: URL) -> URL:
    # Every pooled connection to an in-memory database would see a different, empty one.
    if url.database in (None, "", ":memory:"):
        raise _bad_url("an in-memory SQLite database cannot be shared; give a file path")
    return url


def _bad_url(problem: str) -> ConfigurationError:
    return ConfigurationError(f"WIXAPP_DATABASE_URL: {problem}; use {_ACCEPTED}.")
