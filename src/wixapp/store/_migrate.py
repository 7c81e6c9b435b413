"""Alembic, run from code: no alembic.ini, the scripts ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, text

from wixapp.store._engine import make_migration_engine
from wixapp.store._schema import metadata

__all__ = ["alembic_config", "migrate", "run_environment"]

_SCRIPTS = Path(__file__).with_name("migrations")
# Any fixed 64-bit key: PostgreSQL serialises migrators that hold the same advisory lock.
_PG_LOCK_KEY = 0x7769786170705F6D


def migrate(database_url: str) -> None:
    """Bring the database at ``database_url`` to the newest schema; safe to run concurrently."""
    engine = make_migration_engine(database_url)
    try:
        with engine.begin() as connection:
            _lock_out_other_migrators(connection)
            command.upgrade(alembic_config(connection=connection), "head")
    finally:
        engine.dispose()


def alembic_config(*, connection: Connection | None = None, database_url: str = "") -> Config:
    """A Config for ``alembic.command``; without a connection, env.py opens ``database_url``."""
    config = Config()
    config.set_main_option("script_location", _escape(str(_SCRIPTS)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", _escape(database_url))
    config.attributes["connection"] = connection
    return config


def run_environment() -> None:
    """Body of migrations/env.py."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
        return
    engine = make_migration_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as own_connection:
            _run_migrations(own_connection)
    finally:
        engine.dispose()


def _run_migrations(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (it rebuilds them).
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _lock_out_other_migrators(connection: Connection) -> None:
    # SQLite already holds its write lock (BEGIN IMMEDIATE); PostgreSQL needs an explicit one.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # Config values go through ConfigParser interpolation
