from __future__ import annotations

import pytest

from wixapp.errors import ConfigurationError
from wixapp.store import async_database_url, sync_database_url


@pytest.mark.parametrize(
    ("given", "for_app", "for_alembic"),
    [
        ("sqlite:///./wixapp.db", "sqlite+aiosqlite:///./wixapp.db", "sqlite:///./wixapp.db"),
        ("sqlite+aiosqlite:////var/x.db", "sqlite+aiosqlite:////var/x.db", "sqlite:////var/x.db"),
        (
            "postgresql://u@db:5432/app",
            "postgresql+psycopg://u@db:5432/app",
            "postgresql+psycopg://u@db:5432/app",
        ),
        ("postgres://u@db/app", "postgresql+psycopg://u@db/app", "postgresql+psycopg://u@db/app"),
        (
            "postgresql+psycopg://u:p%40ss@db/app?sslmode=require",
            "postgresql+psycopg://u:p%40ss@db/app?sslmode=require",
            "postgresql+psycopg://u:p%40ss@db/app?sslmode=require",
        ),
    ],
)
def test_urls_get_the_drivers_each_side_needs(given: str, for_app: str, for_alembic: str) -> None:
    assert async_database_url(given).render_as_string(hide_password=False) == for_app
    assert sync_database_url(given).render_as_string(hide_password=False) == for_alembic


@pytest.mark.parametrize(
    "given",
    ["mysql://u@db/app", "not a url", "sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite://"],
)
def test_unusable_urls_are_configuration_errors_naming_the_variable(given: str) -> None:
    with pytest.raises(ConfigurationError, match="WIXAPP_DATABASE_URL"):
        async_database_url(given)
