"""Configuration, read from the environment in this one place, as typed values."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wixapp.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_WIX_API_BASE_URL",
    "Settings",
    "load_database_url",
    "load_migrations",
    "load_settings",
]

DEFAULT_WIX_API_BASE_URL = "https://www.wixapis.com"
DEFAULT_DATABASE_URL = "sqlite:///./wixapp.db"


class Settings(BaseSettings):
    """Every knob wixapp has. Each field's environment variable is given in its alias."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    # The app's identity at Wix (app dashboard → OAuth).
    app_id: str = Field(alias="WIX_APP_ID", min_length=1)
    app_secret: SecretStr = Field(alias="WIX_APP_SECRET")
    app_public_key: str | None = Field(default=None, alias="WIX_APP_PUBLIC_KEY")
    api_base_url: str = Field(default=DEFAULT_WIX_API_BASE_URL, alias="WIX_API_BASE_URL")

    # Storage and the shared cache.
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="WIXAPP_DATABASE_URL")
    migrate_on_start: bool = Field(default=True, alias="WIXAPP_MIGRATE_ON_START")
    # The app's own Alembic migrations (a folder or "package:folder"), run after wixapp's.
    app_migrations: str | None = Field(default=None, alias="WIXAPP_MIGRATIONS")
    redis_url: str | None = Field(default=None, alias="WIXAPP_REDIS_URL")
    redis_prefix: str = Field(default="wixapp", min_length=1, alias="WIXAPP_REDIS_PREFIX")

    # Browser access: "*" (any Wix site) or a comma-separated allow-list of origins.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"], alias="WIXAPP_CORS_ORIGINS"
    )
    # The methods browsers may use: every method of the app's routes unless this narrows
    # them (a comma-separated list, e.g. "GET,POST").
    cors_methods: Annotated[list[str] | None, NoDecode] = Field(
        default=None, alias="WIXAPP_CORS_METHODS"
    )

    # Caching. Off makes every request call Wix, as the documented Node sample does.
    cache_enabled: bool = Field(default=True, alias="WIXAPP_CACHE_ENABLED")
    token_cache_max_age: float = Field(default=300.0, gt=0, alias="WIXAPP_TOKEN_CACHE_MAX_AGE")
    token_cache_size: int = Field(default=100_000, gt=0, alias="WIXAPP_TOKEN_CACHE_SIZE")
    invalid_token_ttl: float = Field(default=30.0, ge=0, alias="WIXAPP_INVALID_TOKEN_TTL")
    expiry_leeway: float = Field(default=30.0, ge=0, alias="WIXAPP_EXPIRY_LEEWAY")
    instance_cache_ttl: float = Field(default=60.0, ge=0, alias="WIXAPP_INSTANCE_CACHE_TTL")
    instance_stale_ttl: float = Field(default=86_400.0, ge=0, alias="WIXAPP_INSTANCE_STALE_TTL")
    app_token_refresh_margin: float = Field(
        default=300.0, ge=0, alias="WIXAPP_APP_TOKEN_REFRESH_MARGIN"
    )

    # token-info calls per minute (per process) for tokens not seen before; 0: no limit.
    token_info_budget: int = Field(default=3000, ge=0, alias="WIXAPP_TOKEN_INFO_BUDGET")
    token_info_budget_per_ip: int = Field(
        default=120, ge=0, alias="WIXAPP_TOKEN_INFO_BUDGET_PER_IP"
    )

    # Talking to Wix.
    http_timeout: float = Field(default=5.0, gt=0, alias="WIXAPP_HTTP_TIMEOUT")
    http_retries: int = Field(default=2, ge=0, le=10, alias="WIXAPP_HTTP_RETRIES")
    upstream_deadline: float = Field(default=10.0, gt=0, alias="WIXAPP_UPSTREAM_DEADLINE")
    upstream_concurrency: int = Field(default=100, gt=0, alias="WIXAPP_UPSTREAM_CONCURRENCY")
    breaker_failures: int = Field(default=5, gt=0, alias="WIXAPP_BREAKER_FAILURES")
    breaker_reset: float = Field(default=5.0, gt=0, alias="WIXAPP_BREAKER_RESET")

    # Settings documents.
    settings_max_bytes: int = Field(default=16_384, gt=0, alias="WIXAPP_SETTINGS_MAX_BYTES")
    # How long a process may serve cached settings (0: read the database every time). Writes
    # invalidate every process at once through Redis; without Redis, other workers' copies
    # live this long.
    settings_cache_ttl: float = Field(default=10.0, ge=0, alias="WIXAPP_SETTINGS_CACHE_TTL")
    last_seen_interval: float = Field(default=60.0, ge=0, alias="WIXAPP_LAST_SEEN_INTERVAL")

    # Lifecycle.
    removed_retention_seconds: float = Field(default=0.0, ge=0, alias="WIXAPP_REMOVED_RETENTION")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()] or ["*"]
        return value

    @field_validator("cors_methods", mode="before")
    @classmethod
    def _split_methods(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple):
            return [str(item).strip().upper() for item in value] or None
        return value

    @field_validator("api_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a missing or bad variable raises ConfigurationError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


class _DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="WIXAPP_DATABASE_URL")
    app_migrations: str | None = Field(default=None, alias="WIXAPP_MIGRATIONS")


def load_database_url() -> str:
    """Just the database URL, for commands (``wixapp migrate``) that need nothing else."""
    return _DatabaseSettings().database_url


def load_migrations() -> str | None:
    """Just the app's own migrations (``WIXAPP_MIGRATIONS``), for ``wixapp migrate``."""
    return _DatabaseSettings().app_migrations


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"{name} is not set")
        else:
            problems.append(f"{name}: {error['msg']}")
    return "wixapp configuration: " + "; ".join(problems) + "."
