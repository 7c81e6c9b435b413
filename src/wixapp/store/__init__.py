"""Per-instance storage: the Wix app instance ID is the tenant key of every query.

SQLite (default, a file) or PostgreSQL, chosen by one URL (WIXAPP_DATABASE_URL). The schema
is owned by the Alembic migrations shipped in ``migrations/``: run ``migrate(url)`` (the
``wixapp migrate`` command and server start-up do) before ``Store.open(url)``, or let
``Store.create(url)`` do both.
"""

from typing import Any

from wixapp.errors import renamed
from wixapp.store._engine import make_engine, make_sync_engine
from wixapp.store._migrate import (
    Applied,
    alembic_config,
    app_alembic_config,
    migrate,
    not_wixapp_table,
    run_app_migrations,
)
from wixapp.store._records import (
    UNSET,
    EventRecord,
    InstanceRecord,
    InstanceStatus,
    PreconditionFailedError,
    SettingsRecord,
    StoreUnavailableError,
    Unset,
    etag_for,
)
from wixapp.store._scoped import InstanceStatements, SyncInstanceConnection
from wixapp.store._store import Store, instance_filter
from wixapp.store._urls import async_database_url, sync_database_url

__all__ = [
    "UNSET",
    "Applied",
    "EventRecord",
    "InstanceRecord",
    "InstanceStatements",
    "InstanceStatus",
    "PreconditionFailedError",
    "SettingsRecord",
    "Store",
    "StoreUnavailableError",
    "SyncInstanceConnection",
    "Unset",
    "alembic_config",
    "app_alembic_config",
    "async_database_url",
    "etag_for",
    "instance_filter",
    "make_engine",
    "make_sync_engine",
    "migrate",
    "not_wixapp_table",
    "run_app_migrations",
    "sync_database_url",
]


def __getattr__(name: str) -> Any:
    """Renamed errors under their old names, with a DeprecationWarning."""
    return renamed(__name__, name)
