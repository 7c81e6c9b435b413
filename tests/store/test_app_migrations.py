"""wixapp's schema beside an app's own: the renamed tables, an existing database brought
over with its data, an app's migrations run after wixapp's, and an app's autogenerate that
never sees wixapp's tables. On SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from sqlalchemy import Connection, inspect, text

from wixapp.store import alembic_config, app_alembic_config, migrate, run_app_migrations
from wixapp.store._engine import make_migration_engine
from wixapp.store._schema import VERSION_TABLE, metadata

WIXAPP_TABLES = {"wixapp_instances", "wixapp_settings", "wixapp_webhook_events"}

NOTES_TABLE = """
sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("instance_id", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)
"""
TAGS_TABLE = """
sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True))
"""

# The app's first migration refers to wixapp's table: it can only run after wixapp's.
NOTES_MIGRATION = '''
"""notes"""
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.execute("INSERT INTO notes (instance_id, text) SELECT instance_id, 'hello'"
               " FROM wixapp_instances")


def downgrade() -> None:
    op.drop_table("notes")
'''


@contextmanager
def _connect(database_url: str) -> Iterator[Connection]:
    engine = make_migration_engine(database_url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _revision(connection: Connection, version_table: str) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": version_table})
    return context.get_current_revision()


def _app_project(folder: Path, *tables: str) -> str:
    """An app's own migrations folder whose env.py declares ``tables``; returns its path."""
    (folder / "versions").mkdir(parents=True)
    (folder / "script.py.mako").write_text(
        (
            Path(alembic_config().get_main_option("script_location") or "") / "script.py.mako"
        ).read_text()
    )
    _app_project_env(folder, *tables)
    return str(folder)


def _make_pre_prefix_database(database_url: str) -> None:
    """A database as wixapp 0001 left it: unprefixed tables, history in alembic_version."""
    with _connect(database_url) as connection:
        command.upgrade(alembic_config(connection=connection), "0001")
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        connection.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        connection.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
        connection.execute(
            text(
                "INSERT INTO instances (instance_id, status, first_seen_at, last_seen_at)"
                " VALUES ('inst-1', 'active', :at, :at)"
            ),
            {"at": "2026-01-02 03:04:05"},
        )
        connection.execute(
            text(
                "INSERT INTO settings (instance_id, document, version, updated_at)"
                " VALUES ('inst-1', '{\"greeting\":\"hi\"}', 3, :at)"
            ),
            {"at": "2026-01-02 03:04:05"},
        )
        connection.execute(
            text(
                "INSERT INTO webhook_events (id, instance_id, event_type, received_at, payload)"
                " VALUES ('ev-1', 'inst-1', 'AppInstalled', :at, '{}')"
            ),
            {"at": "2026-01-02 03:04:05"},
        )


def test_an_existing_database_keeps_its_data_under_the_new_names(
    empty_database_url: str,
) -> None:
    _make_pre_prefix_database(empty_database_url)

    migrate(empty_database_url)

    with _connect(empty_database_url) as connection:
        assert set(inspect(connection).get_table_names()) == WIXAPP_TABLES | {VERSION_TABLE}
        assert _revision(connection, VERSION_TABLE) == "0002"
        row = connection.execute(text("SELECT document, version FROM wixapp_settings")).one()
        assert tuple(row) == ('{"greeting":"hi"}', 3)
        assert connection.execute(text("SELECT status FROM wixapp_instances")).scalar() == "active"
        assert connection.execute(text("SELECT id FROM wixapp_webhook_events")).scalar() == "ev-1"
        # Renamed down to the constraints and indexes: the schema is exactly the declared one.
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
        # The settings still cascade from the renamed instances table.
        (foreign_key,) = inspect(connection).get_foreign_keys("wixapp_settings")
        assert foreign_key["referred_table"] == "wixapp_instances"
        assert foreign_key["options"].get("ondelete") == "CASCADE"


def test_the_rename_downgrades_and_upgrades_again(empty_database_url: str) -> None:
    migrate(empty_database_url)
    with _connect(empty_database_url) as connection:
        command.downgrade(alembic_config(connection=connection), "0001")
        assert {"instances", "settings", "webhook_events"} <= set(
            inspect(connection).get_table_names()
        )
    migrate(empty_database_url)
    with _connect(empty_database_url) as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []


def test_an_apps_migrations_run_after_wixapps_with_their_own_history(
    empty_database_url: str, tmp_path: Path
) -> None:
    _make_pre_prefix_database(empty_database_url)  # one instance row for the app's migration
    project = _app_project(tmp_path / "migrations", NOTES_TABLE)
    (tmp_path / "migrations" / "versions" / "a1_notes.py").write_text(NOTES_MIGRATION)

    migrate(empty_database_url, app_migrations=project)
    migrate(empty_database_url, app_migrations=project)  # a second run changes nothing

    with _connect(empty_database_url) as connection:
        assert _revision(connection, VERSION_TABLE) == "0002"
        assert _revision(connection, "alembic_version") == "a1"
        notes = connection.execute(text("SELECT instance_id, text FROM notes")).all()
        assert [tuple(note) for note in notes] == [("inst-1", "hello")]


def test_an_apps_autogenerate_leaves_wixapps_tables_alone(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    project = _app_project(folder, NOTES_TABLE)
    (folder / "versions" / "a1_notes.py").write_text(NOTES_MIGRATION)
    migrate(empty_database_url, app_migrations=project)
    config = app_alembic_config(project, database_url=empty_database_url)

    # In step with the app's tables: an empty migration, though wixapp's tables are there.
    command.check(config)
    empty = command.revision(config, message="nothing", autogenerate=True, rev_id="a2")
    assert "pass" in _upgrade_body(empty)

    # A new table of the app's: the migration creates it and touches nothing of wixapp's.
    (folder / "env.py").unlink()
    (folder / "versions" / "a2_nothing.py").unlink()
    _app_project_env(folder, NOTES_TABLE, TAGS_TABLE)
    added = command.revision(config, message="tags", autogenerate=True, rev_id="a3")
    body = _upgrade_body(added)
    assert "op.create_table('tags'" in body or 'op.create_table("tags"' in body
    assert "wixapp" not in Path(_path(added)).read_text()


def _app_project_env(folder: Path, *tables: str) -> None:
    declared = "".join(textwrap.dedent(table) for table in tables)
    (folder / "env.py").write_text(
        "import sqlalchemy as sa\n"
        "from wixapp.store import run_app_migrations\n\n"
        f"metadata = sa.MetaData()\n{declared}\n"
        "run_app_migrations(metadata)\n"
    )


def _path(script: Script | list[Script | None] | None) -> str:
    assert isinstance(script, Script)
    return script.path


def _upgrade_body(script: Script | list[Script | None] | None) -> str:
    source = Path(_path(script)).read_text()
    return source.split("def upgrade() -> None:")[1].split("def downgrade")[0]


def test_an_app_may_not_use_wixapps_version_table() -> None:
    with pytest.raises(ValueError, match="wixapp's"):
        run_app_migrations(metadata, version_table=VERSION_TABLE)


def test_the_cli_migrates_both_histories_and_writes_the_apps_next_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wixapp.cli import main

    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    folder = tmp_path / "migrations"
    project = _app_project(folder, NOTES_TABLE)
    (folder / "versions" / "a1_notes.py").write_text(NOTES_MIGRATION)

    migrate_both = ["migrate", "--database-url", database_url, "--migrations", project]
    assert main(migrate_both) == 0
    said = capsys.readouterr().out
    assert "applied wixapp's migrations: 0001" in said
    assert "applied the app's migrations: a1" in said
    assert "up to date" not in said
    assert main(migrate_both) == 0
    said = capsys.readouterr().out
    assert "already up to date (wixapp's and the app's); nothing applied" in said
    assert "applied" not in said.replace("nothing applied", "")
    _app_project_env(folder, NOTES_TABLE, TAGS_TABLE)
    revision = ["revision", "--database-url", database_url, "--migrations", project]
    assert main([*revision, "--autogenerate", "-m", "add tags"]) == 0

    (written,) = [path for path in (folder / "versions").glob("*add_tags.py")]
    assert "op.create_table('tags'" in written.read_text()
    assert "wixapp" not in written.read_text()


def test_the_cli_says_what_revision_needs(capsys: pytest.CaptureFixture[str]) -> None:
    from wixapp.cli import main

    assert main(["revision", "-m", "x"]) == 2
    assert "--migrations or WIXAPP_MIGRATIONS" in capsys.readouterr().err
