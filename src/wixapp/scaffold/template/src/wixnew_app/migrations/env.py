"""Alembic environment of this app's own migrations (``wixapp migrate`` runs them after
wixapp's). Autogenerate compares ``metadata`` only: wixapp's tables are left out."""

from wixapp.store import run_app_migrations

from wixnew_app.tables import metadata

run_app_migrations(metadata)
