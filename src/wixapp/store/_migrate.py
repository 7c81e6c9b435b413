"""Alembic, run from code: no alembic.ini, the scripts ship inside the package.

wixapp's history lives in its own version table (``wixapp_alembic_version``); an app's own
migrations keep theirs (Alembic's default ``alembic_version``) and run after wixapp's, in the
same locked transaction, so the two histories never meet and either can grow on its own.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    column,
    delete,
    func,
    insert,
    inspect,
    select,
    table,
    text,
)

from wixapp.store._engine import make_migration_engine
from wixapp.store._schema import VERSION_TABLE, is_wixapp_table, metadata
from wixapp.store._urls import is_sqlite, sync_database_url

__all__ = [
    "Applied",
    "alembic_config",
    "app_alembic_config",
    "head_revisions",
    "migrate",
    "not_wixapp_table",
    "run_app_migrations",
    "run_environment",
    "schema_is_behind",
]

logger = logging.getLogger("wixapp.store")

_SCRIPTS = Path(__file__).with_name("migrations")
# Before wixapp named its version table, its history sat in Alembic's default one.
_LEGACY_VERSION_TABLE = "alembic_version"
# Any fixed 64-bit key: PostgreSQL serialises migrators that hold the same advisory lock.
_PG_LOCK_KEY = 0x7769786170705F6D


@dataclass(frozen=True, slots=True)
class Applied:
    """The migrations one ``migrate`` run applied ("0002 rename tables"), per history."""

    wixapp: tuple[str, ...] = ()
    app: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.wixapp or self.app)


def migrate(database_url: str, *, app_migrations: str | None = None) -> Applied:
    """Bring the database at ``database_url`` to the newest schema: wixapp's migrations, then
    the app's own (``app_migrations``: an Alembic script location, a folder or
    ``package:folder``). Safe to run from several processes at once. Returns what it
    applied (nothing when the schema was up to date)."""
    with _one_sqlite_migrator_at_a_time(database_url):
        engine = make_migration_engine(database_url)
        try:
            with engine.begin() as connection:
                _lock_out_other_migrators(connection)
                _adopt_legacy_version_table(connection)
                wixapp = _upgraded(alembic_config(connection=connection))
                app: tuple[str, ...] = ()
                if app_migrations:
                    app = _upgraded(app_alembic_config(app_migrations, connection=connection))
        finally:
            engine.dispose()
    return Applied(wixapp, app)


def _upgraded(config: Config) -> tuple[str, ...]:
    applied: list[str] = config.attributes.setdefault("applied", [])
    command.upgrade(config, "head")
    return tuple(applied)


@functools.cache
def head_revisions() -> tuple[str, ...]:
    """The revisions a database fully migrated to wixapp's schema is at (its heads)."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_is_behind(connection: Connection, app_migrations: str | None = None) -> bool:
    """Whether the database lacks any of wixapp's migrations, or of the app's own at
    ``app_migrations`` (its env.py names its version table, so it is run to read it)."""
    if _applied(connection, VERSION_TABLE) != set(head_revisions()):
        return True
    return bool(app_migrations) and _app_is_behind(connection, str(app_migrations))


def _applied(connection: Connection, version_table: str) -> set[str]:
    if not inspect(connection).has_table(version_table):
        return set()
    versions: Select[Any] = select(column("version_num")).select_from(table(version_table))
    return {str(version) for version in connection.execute(versions).scalars()}


def _app_is_behind(connection: Connection, script_location: str) -> bool:
    config = app_alembic_config(script_location, connection=connection)
    script = ScriptDirectory.from_config(config)
    current: list[str] = []

    def note_current(_heads: Any, migration_context: MigrationContext) -> list[Any]:
        current.extend(migration_context.get_current_heads())
        return []  # nothing to run: this only reads

    with EnvironmentContext(config, script, fn=note_current, dont_mutate=True):
        script.run_env()
    return set(current) != set(_app_heads(script_location))


@functools.cache
def _app_heads(script_location: str) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(app_alembic_config(script_location)).get_heads())


def alembic_config(*, connection: Connection | None = None, database_url: str = "") -> Config:
    """wixapp's Config for ``alembic.command``; without a connection, env.py opens
    ``database_url``."""
    return _config(str(_SCRIPTS), connection, database_url)


def app_alembic_config(
    script_location: str, *, connection: Connection | None = None, database_url: str = ""
) -> Config:
    """A Config for an app's own migrations at ``script_location`` (a folder or
    ``package:folder``), whose env.py calls :func:`run_app_migrations`."""
    return _config(script_location, connection, database_url)


def _config(script_location: str, connection: Connection | None, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", _escape(script_location))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", _escape(database_url))
    config.attributes["connection"] = connection
    return config


def run_environment() -> None:
    """Body of wixapp's migrations/env.py."""
    _run_in_context(target_metadata=metadata, version_table=VERSION_TABLE, include_name=None)


def run_app_migrations(
    target_metadata: MetaData, *, version_table: str = "alembic_version"
) -> None:
    """The body of an app's own ``migrations/env.py``: ``run_app_migrations(metadata)``.

    Runs in the connection ``wixapp migrate`` (or start-up) passes, or opens the URL of the
    Alembic config (``sqlalchemy.url``) when run by ``alembic`` or ``wixapp revision``.
    Autogenerate compares ``target_metadata`` only: wixapp's tables are never in its diff.
    """
    if is_wixapp_table(version_table):
        raise ValueError(f"{version_table!r} is wixapp's: give the app's history its own table")
    _run_in_context(
        target_metadata=target_metadata, version_table=version_table, include_name=not_wixapp_table
    )


def not_wixapp_table(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """An ``include_name`` hook for an app's own Alembic env.py: leaves wixapp's tables out
    of autogenerate."""
    return type_ != "table" or not is_wixapp_table(name)


def _run_in_context(**options: object) -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection, options)
        return
    engine = make_migration_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as own_connection:
            _run_migrations(own_connection, options)
    finally:
        engine.dispose()


def _run_migrations(connection: Connection, options: dict[str, object]) -> None:
    applied: list[str] = context.config.attributes.setdefault("applied", [])

    def note(  # so `wixapp migrate` can say what it did
        ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Any
    ) -> None:
        if step.is_upgrade and step.up_revision_id is not None:
            applied.append(_titled(step.up_revision_id, getattr(step.up_revision, "doc", None)))

    # Batch mode lets later migrations alter SQLite tables (it rebuilds them).
    context.configure(
        connection=connection,
        render_as_batch=True,
        on_version_apply=note,
        **options,  # type: ignore[arg-type]
    )
    with context.begin_transaction():
        context.run_migrations()


def _titled(revision: str, doc: str | None) -> str:
    """``0002 wixapp's tables take the prefix``: the revision and its doc's first sentence."""
    sentence = re.split(r"(?<=\.)\s", " ".join((doc or "").split()), maxsplit=1)[0]
    return f"{revision} {sentence.rstrip('.')}".strip()


def _adopt_legacy_version_table(connection: Connection) -> None:
    """Move wixapp's revisions out of ``alembic_version`` into its own version table (a
    database made before wixapp named it); the app's own rows, if any, stay."""
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or _LEGACY_VERSION_TABLE not in tables:
        return
    legacy = table(_LEGACY_VERSION_TABLE, column("version_num"))
    ours = set(_wixapp_revisions())
    found = [v for v in connection.execute(select(legacy.c.version_num)).scalars() if v in ours]
    if not found:
        return
    own = Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),  # as Alembic names it
    )
    own.create(connection)
    connection.execute(insert(own), [{"version_num": revision} for revision in found])
    connection.execute(delete(legacy).where(legacy.c.version_num.in_(found)))
    if connection.execute(select(func.count()).select_from(legacy)).scalar() == 0:
        connection.execute(text(f"DROP TABLE {_LEGACY_VERSION_TABLE}"))
    logger.info("moved wixapp's schema version %s to %s", ", ".join(found), VERSION_TABLE)


def _wixapp_revisions() -> Iterable[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return (script.revision for script in scripts.walk_revisions())


@contextmanager
def _one_sqlite_migrator_at_a_time(database_url: str) -> Iterator[None]:
    """Holds ``<database>.migrate.lock`` (an OS file lock) while migrating a SQLite file.

    SQLite's own locking is not enough: the first ``PRAGMA journal_mode = WAL`` on a new file
    fails at once with "database is locked" when another connection holds a lock, without
    waiting out ``busy_timeout`` (SQLite skips the busy handler where waiting could deadlock).
    So migrators queue before any of them opens the database. The file stays; it is empty.
    """
    url = sync_database_url(database_url)
    if not is_sqlite(url):
        yield  # PostgreSQL: the advisory lock in the migration's transaction serialises them
        return
    database = Path(url.database or "").expanduser()
    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{database}.migrate.lock"):
        yield


def _lock_out_other_migrators(connection: Connection) -> None:
    # SQLite: the file lock above and BEGIN IMMEDIATE; PostgreSQL needs an explicit lock.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # Config values go through ConfigParser interpolation
