"""Throwaway databases for tests: a SQLite file, or a fresh database on the local PostgreSQL.

Self-contained so any conftest can use it::

    @pytest.fixture(scope="session", params=DATABASE_PARAMS)
    def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
        with make_database_url(request.param) as url:
            migrate(url)
            yield url
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = ["DATABASE_KINDS", "DATABASE_PARAMS", "POSTGRES_ADMIN_URL", "make_database_url"]

# Trust auth, no password; only used to create and drop the per-session databases. Both are
# environment settings, so the suite can share a server with others: WIXAPP_TEST_POSTGRES_URL
# (the admin connection) and WIXAPP_TEST_DB_PREFIX (every throwaway database's name prefix).
POSTGRES_ADMIN_URL = os.environ.get(
    "WIXAPP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DB_PREFIX = os.environ.get("WIXAPP_TEST_DB_PREFIX", "wixapp_t_")
DATABASE_KINDS = ("sqlite", "postgresql")
DATABASE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@contextmanager
def make_database_url(kind: str) -> Iterator[str]:
    """The URL of a new, empty database of ``kind``, removed again on exit."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=DB_PREFIX) as directory:
            yield f"sqlite:///{Path(directory) / 'wixapp.db'}"
    elif kind == "postgresql":
        with _postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}; use one of {DATABASE_KINDS}")


@contextmanager
def _postgres_database() -> Iterator[str]:
    name = f"{DB_PREFIX}{secrets.token_hex(6)}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE closes connections a failed test may have leaked, so the drop cannot hang.
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(statement: sql.Composed) -> None:
    try:
        connection = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: start it, "
            "or deselect these tests with -m 'not postgres'."
        ) from exc
    with connection:
        connection.execute(statement)
