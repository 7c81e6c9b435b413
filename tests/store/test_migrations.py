from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from wixapp.store import alembic_config, migrate
from wixapp.store._engine import make_migration_engine
from wixapp.store._schema import VERSION_TABLE, metadata

TABLES = {"wixapp_alembic_version", "wixapp_instances", "wixapp_settings", "wixapp_webhook_events"}
HEAD = "0002"


@contextmanager
def _connect(database_url: str) -> Iterator[Connection]:
    engine = make_migration_engine(database_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _context(connection: Connection) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})


def _revision(database_url: str) -> str | None:
    with _connect(database_url) as connection:
        return _context(connection).get_current_revision()


def test_migrate_creates_the_schema_and_a_second_run_changes_nothing(
    empty_database_url: str,
) -> None:
    migrate(empty_database_url)
    migrate(empty_database_url)

    with _connect(empty_database_url) as connection:
        assert set(inspect(connection).get_table_names()) == TABLES
    assert _revision(empty_database_url) == HEAD


def test_migrated_schema_matches_the_table_definitions(empty_database_url: str) -> None:
    migrate(empty_database_url)

    with _connect(empty_database_url) as connection:
        assert compare_metadata(_context(connection), metadata) == []
    # The same check as a developer runs it: Alembic opens the database itself.
    command.check(alembic_config(database_url=empty_database_url))


def test_concurrent_migrators_wait_for_each_other(empty_database_url: str) -> None:
    # As when several server processes start at once against a new database.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(migrate, [empty_database_url] * 4))

    assert _revision(empty_database_url) == HEAD


def test_sqlite_migrations_run_without_foreign_key_enforcement(tmp_path: Path) -> None:
    # Else a batch migration that rebuilds `instances` would cascade-delete every settings row.
    with _connect(f"sqlite:///{tmp_path / 'app.db'}") as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
