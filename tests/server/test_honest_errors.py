"""Errors that say what is wrong, through the backend a user runs: a forgotten app migration
(named in the log once, 503 migrations_pending naming the command, /readyz not ready); an
unreachable Wix (WIX_API_BASE_URL and its value, once). A refused CORS origin is in
``tests/adapters/test_scenarios.py``, on every door."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from dbutil import make_database_url
from wixapp.cli import main
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.server import InstanceDB, create_app
from wixapp.store import migrate
from wixapp.testing import (
    EmulatorClock,
    InstallFactory,
    TokenFactory,
    open_backend,
    port_or_free,
    settings_for_emulator,
)
from wixapp.upstream import client as client_module

FIRST = """
import sqlalchemy as sa
from alembic import op

revision = "n1"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("instance_id", sa.String(128), nullable=False),
    )
"""
# The release that added a column and forgot to run it.
SECOND = """
import sqlalchemy as sa
from alembic import op

revision = "n2"
down_revision = "n1"


def upgrade() -> None:
    op.add_column("notes", sa.Column("text", sa.Text, nullable=True))
"""
ENV = """
import sqlalchemy as sa
from wixapp.store import run_app_migrations

run_app_migrations(sa.MetaData())
"""

notes = sa.Table(
    "notes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("instance_id", sa.String(128)),
    sa.Column("text", sa.Text),
)


def _migrations(folder: Path) -> str:
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(ENV)
    (folder / "versions" / "n1_notes.py").write_text(FIRST)
    return str(folder)


def _add_note_routes(app: FastAPI) -> FastAPI:
    @app.get("/api/notes")
    async def list_notes(db: InstanceDB) -> list[str | None]:
        return [row.text for row in await db.execute(db.select(notes))]

    @app.post("/api/notes")
    async def add_note(db: InstanceDB) -> dict[str, str]:
        await db.execute(db.insert(notes).values(text="hello"))
        return {}

    return app


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_a_forgotten_app_migration_names_itself_and_the_command(
    kind: str,
    tmp_path: Path,
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = _migrations(tmp_path / "migrations")
    with make_database_url(kind) as url:
        migrate(url, app_migrations=project)
        (tmp_path / "migrations" / "versions" / "n2_text.py").write_text(SECOND)
        settings = settings_for_emulator(
            wix_registered_app,
            database_url=url,
            WIXAPP_MIGRATE_ON_START=False,
            WIXAPP_MIGRATIONS=project,
        )
        app = create_app(
            settings, wix_transport=wix_transport, clock=EmulatorClock(wix_emulator_state)
        )
        caller = {"Authorization": wix_token(wix_install().instance_id)}
        with caplog.at_level(logging.WARNING):
            async with open_backend(_add_note_routes(app)) as client:
                answers = [
                    await client.get("/api/notes", headers=caller),
                    await client.post("/api/notes", headers=caller),
                    await client.post("/api/notes", headers=caller),
                ]
                ready = await client.get("/readyz")
        lines = [record.getMessage() for record in caplog.records]
        # The command the answers name (the CLI configures logging: after the capture).
        assert main(["migrate", "--database-url", url, "--migrations", project]) == 0
        async with open_backend(_add_note_routes(app)) as client:
            after = await client.post("/api/notes", headers=caller)
            ready_after = await client.get("/readyz")

    for answer in answers:
        assert answer.status_code == 503
        assert answer.json()["error"] == "migrations_pending"
        assert "run `wixapp migrate`" in answer.json()["detail"]
    assert (ready.status_code, ready.json()["checks"]) == (503, {"database": "migrations_pending"})
    missing = [line for line in lines if "the database schema lacks" in line]
    assert missing
    assert all("text" in line and "wixapp migrate" in line for line in missing)
    # Once each (the SELECT's and the INSERT's wording), though the INSERT failed twice.
    assert len(missing) == len(set(missing)) <= 2
    assert any("schema is behind this version" in line for line in lines)  # at start-up
    assert (after.status_code, ready_after.status_code) == (200, 200)


async def test_an_unreachable_wix_names_the_variable_and_its_value_once(
    database_url: str,
    wix_registered_app: RegisteredApp,
    wix_token: TokenFactory,
    wix_install: InstallFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = f"http://127.0.0.1:{port_or_free()}"  # free: nothing listens there
    client_module._unreachable_logged._last.clear()  # a port may come round again
    settings = settings_for_emulator(
        wix_registered_app, database_url=database_url, base_url=nobody, WIXAPP_HTTP_RETRIES=0
    )
    instance_id = wix_install().instance_id
    with caplog.at_level(logging.WARNING, logger="wixapp"):
        async with open_backend(create_app(settings)) as client:  # the real HTTP transport
            answers = [
                await client.get("/api/settings", headers={"Authorization": wix_token(instance_id)})
                for _ in range(3)
            ]
    assert {answer.status_code for answer in answers} == {503}
    named = [r.getMessage() for r in caplog.records if "WIX_API_BASE_URL" in r.getMessage()]
    assert len(named) == 1
    assert f"could not reach Wix at WIX_API_BASE_URL ({nobody})" in named[0]
