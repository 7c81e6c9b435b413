"""Configuration, read from the environment in this one place, as typed values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wixapp.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_SQLITE_BUSY_TIMEOUT",
    "DEFAULT_VISITOR_INSTANCE_FIELDS",
    "DEFAULT_WIX_API_BASE_URL",
    "RedisClusterURL",
    "ServeSettings",
    "Settings",
    "load_database_url",
    "load_migrations",
    "load_settings",
]

DEFAULT_WIX_API_BASE_URL = "https://www.wixapis.com"
DEFAULT_DATABASE_URL = "sqlite:///./wixapp.db"
DEFAULT_SQLITE_BUSY_TIMEOUT = 10.0
"""Seconds a SQLite writer waits for the one write lock (``WIXAPP_SQLITE_BUSY_TIMEOUT``)."""
DEFAULT_VISITOR_INSTANCE_FIELDS = (
    "instance.instanceId",
    "instance.appName",
    "instance.appVersion",
    "instance.isFree",
    "site.siteId",
    "site.siteDisplayName",
    "site.locale",
    "site.paymentCurrency",
    "site.multilingual",
    "site.url",
)
"""What ``/get-instance?include=instance`` shows VISITOR and MEMBER callers: no owner
e-mail or owner info, no billing, invoice or plan details (USER callers see everything)."""

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_CLUSTER_SUFFIX = "+cluster"
_REDIS_URL_FORMS = (
    "redis://[:password@]host:6379/0, rediss://… (TLS), unix:///path/to/socket, or for a "
    "Redis Cluster redis+cluster://[:password@]host:port[,host:port…] (rediss+cluster: TLS)"
)


@dataclass(frozen=True, slots=True)
class RedisClusterURL:
    """A ``redis+cluster://[user:password@]host:port[,host:port…][?options]`` URL
    (``rediss+cluster://`` for TLS): the nodes a Redis Cluster is discovered from (any
    of them will do; give several, so that one down does not stop a start)."""

    scheme: str  # of each node: redis or rediss
    credentials: str  # "user:password@", or ""
    nodes: tuple[tuple[str, int], ...]
    query: str

    @classmethod
    def parse(cls, url: str) -> RedisClusterURL | None:
        """The cluster URL, or None for a URL of one server; ValueError if malformed."""
        scheme, separator, rest = url.strip().partition("://")
        if not separator or not scheme.endswith(_CLUSTER_SUFFIX):
            return None
        scheme = scheme.removesuffix(_CLUSTER_SUFFIX)
        location, _, query = rest.partition("?")
        location, _, path = location.partition("/")
        credentials, at, hosts = location.rpartition("@")
        if scheme not in ("redis", "rediss"):
            raise ValueError("its nodes' scheme is redis or rediss")
        if path not in ("", "0"):
            raise ValueError("a Redis Cluster has only database 0")
        nodes = tuple(_host_and_port(each) for each in hosts.split(","))
        return cls(scheme, credentials + at, nodes, query)

    def node_url(self, host: str, port: int) -> str:
        """The URL of one node, with this URL's credentials and options."""
        host = f"[{host}]" if ":" in host else host
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.credentials}{host}:{port}/0{query}"


def _host_and_port(text: str) -> tuple[str, int]:
    parts = urlsplit(f"//{text.strip()}")
    try:
        port = parts.port or 6379
    except ValueError:
        port = 0
    if not parts.hostname or parts.username is not None or not port:
        raise ValueError(f"{text!r} is not host:port")
    return parts.hostname, port


_CSP_DIRECTIVES = frozenset(
    {
        *("default-src", "child-src", "connect-src", "font-src", "frame-src", "img-src"),
        *("manifest-src", "media-src", "object-src", "worker-src", "base-uri", "form-action"),
        *("script-src", "script-src-elem", "script-src-attr", "frame-ancestors"),
        *("style-src", "style-src-elem", "style-src-attr"),
    }
)
_CSP_SOURCE = re.compile(r"[^\s;,'\"]+|'[a-z0-9+/=-]+'", re.IGNORECASE)
# An allowed origin: scheme://host[:port], the host optionally "*." + a domain.
_ORIGIN = re.compile(r"https?://(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?", re.IGNORECASE)


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
    # Seconds a SQLite write waits for SQLite's one write lock before it answers 503
    # store_unavailable (ignored for PostgreSQL).
    sqlite_busy_timeout: float = Field(
        default=DEFAULT_SQLITE_BUSY_TIMEOUT, gt=0, alias="WIXAPP_SQLITE_BUSY_TIMEOUT"
    )
    redis_url: str | None = Field(default=None, alias="WIXAPP_REDIS_URL")
    redis_prefix: str = Field(default="wixapp", min_length=1, alias="WIXAPP_REDIS_PREFIX")
    # What one request may wait on Redis in all, in ms of its worker's free loop time (grown
    # with the worker's other calls at Redis: see cache/budget.py).
    redis_budget_ms: float = Field(default=20.0, gt=0, alias="WIXAPP_REDIS_BUDGET_MS")

    # Browser access: "*" (any Wix site) or a comma-separated allow-list of origins, each
    # scheme://host[:port]; "https://*.wixsite.com" allows every subdomain of wixsite.com.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"], alias="WIXAPP_CORS_ORIGINS"
    )
    # The methods browsers may use: every method of the app's routes unless this narrows
    # them (a comma-separated list, e.g. "GET,POST").
    cors_methods: Annotated[list[str] | None, NoDecode] = Field(
        default=None, alias="WIXAPP_CORS_METHODS"
    )
    # More origins allowed to frame the settings panel (the Wix editor's always are).
    frame_ancestors: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="WIXAPP_FRAME_ANCESTORS"
    )
    # More sources for the pages' Content-Security-Policy, as directives separated by ";"
    # ("style-src https://fonts.example.com; img-src https://cdn.example.com"): each source
    # is added to that directive of wixapp's policy (a directive it lacks is added whole).
    csp_extra: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict, alias="WIXAPP_CSP_EXTRA"
    )
    # What VISITOR and MEMBER callers see of ?include=instance (dotted paths).
    visitor_instance_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_VISITOR_INSTANCE_FIELDS),
        alias="WIXAPP_VISITOR_INSTANCE_FIELDS",
    )
    # Path prefixes whose every request (but CORS preflights) is identified before the app's
    # own code runs, by every front door (a comma-separated list, e.g. "/api/"). By default
    # none: routes ask for the caller themselves (a dependency, a decorator).
    guard_paths: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="WIXAPP_GUARD_PATHS"
    )
    # Accept the legacy signed `instance` query parameter of Wix iframes and dashboards on a
    # GET or HEAD without an Authorization header (every front door, every identified route;
    # a write always needs a token: a value in a URL leaks through logs and referrers).
    legacy_instance: bool = Field(default=True, alias="WIXAPP_LEGACY_INSTANCE")
    # The oldest signDate accepted in a legacy `instance` value, in seconds.
    legacy_instance_max_age: float = Field(
        default=86_400.0, gt=0, alias="WIXAPP_LEGACY_INSTANCE_MAX_AGE"
    )

    # Caching. Off makes every request call Wix, as the documented Node sample does.
    cache_enabled: bool = Field(default=True, alias="WIXAPP_CACHE_ENABLED")
    token_cache_max_age: float = Field(default=300.0, gt=0, alias="WIXAPP_TOKEN_CACHE_MAX_AGE")
    token_cache_size: int = Field(default=100_000, gt=0, alias="WIXAPP_TOKEN_CACHE_SIZE")
    instance_cache_size: int = Field(default=10_000, gt=0, alias="WIXAPP_INSTANCE_CACHE_SIZE")
    invalid_token_ttl: float = Field(default=30.0, ge=0, alias="WIXAPP_INVALID_TOKEN_TTL")
    expiry_leeway: float = Field(default=30.0, ge=0, alias="WIXAPP_EXPIRY_LEEWAY")
    instance_cache_ttl: float = Field(default=60.0, ge=0, alias="WIXAPP_INSTANCE_CACHE_TTL")
    instance_stale_ttl: float = Field(default=86_400.0, ge=0, alias="WIXAPP_INSTANCE_STALE_TTL")
    app_token_refresh_margin: float = Field(
        default=300.0, ge=0, alias="WIXAPP_APP_TOKEN_REFRESH_MARGIN"
    )

    # token-info calls per minute for tokens not seen before (shared by every process with
    # Redis, per process without); 0: no limit. See wixapp.identity.budget.
    token_info_budget: int = Field(default=3000, ge=0, alias="WIXAPP_TOKEN_INFO_BUDGET")
    token_info_budget_per_ip: int = Field(
        default=120, ge=0, alias="WIXAPP_TOKEN_INFO_BUDGET_PER_IP"
    )
    token_info_reserved_share: float = Field(
        default=0.5, ge=0, lt=1, alias="WIXAPP_TOKEN_INFO_RESERVED_SHARE"
    )
    # Per IPv4 /24 or IPv6 /48, tainted or not: one network's many addresses share it.
    token_info_budget_per_network: int = Field(
        default=600, ge=0, alias="WIXAPP_TOKEN_INFO_BUDGET_PER_NETWORK"
    )
    # Kept for tokens of instances whose callers Wix confirmed in the last minutes.
    token_info_known_share: float = Field(
        default=0.2, ge=0, lt=1, alias="WIXAPP_TOKEN_INFO_KNOWN_SHARE"
    )
    # Below Wix's 200 calls a minute per instance, leaving room for elevated calls.
    token_info_per_instance: int = Field(
        default=150, ge=0, le=200, alias="WIXAPP_TOKEN_INFO_PER_INSTANCE"
    )
    budget_table_size: int = Field(default=10_000, gt=0, alias="WIXAPP_BUDGET_TABLE_SIZE")

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
            return _split(value) or ["*"]
        return value

    @field_validator("frame_ancestors", "visitor_instance_fields", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        return _split(value) if isinstance(value, str) else value

    @field_validator("csp_extra", mode="before")
    @classmethod
    def _csp_directives(cls, value: object) -> object:
        return _parse_csp(value) if isinstance(value, str) else value

    @field_validator("guard_paths", mode="before")
    @classmethod
    def _split_guard(cls, value: object) -> object:
        return _split(value) if isinstance(value, str) else value

    @field_validator("guard_paths")
    @classmethod
    def _path_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not prefix.startswith("/"):
                raise ValueError(f"{prefix!r} is not a path prefix: start it with '/', e.g. /api/")
        return value

    @field_validator("cors_origins", "frame_ancestors")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port] (no path, no "
                    'trailing slash), "https://*.example.com" for every subdomain, or "*"'
                )
        return value

    @field_validator("app_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty: set it to the app's secret (Wix app dashboard → OAuth)")
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
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an http(s) URL: use https://www.wixapis.com (the default) "
                "or the emulator's URL, e.g. http://127.0.0.1:8765"
            )
        return value.strip().rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            cluster = RedisClusterURL.parse(value)
        except ValueError as error:
            raise ValueError(
                f"{_without_password(value)!r} is not a Redis Cluster URL ({error}): write "
                "redis+cluster://[:password@]host:port[,host:port…] (rediss+cluster: TLS)"
            ) from None
        parts = urlsplit(value.strip())
        single = parts.scheme in _REDIS_SCHEMES and (parts.scheme == "unix" or parts.hostname)
        if cluster is None and not single:
            raise ValueError(
                f"{_without_password(value)!r} is not a Redis URL: write {_REDIS_URL_FORMS}"
            )
        return value.strip()

    @field_validator("redis_prefix")
    @classmethod
    def _redis_prefix(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(
                f"{value!r} contains {{ or }}, which mark Redis Cluster hash tags in key "
                "names: leave them out"
            )
        return value

    def as_config(self) -> dict[str, Any]:
        """The settings given (by keyword, the environment or ``.env``) under their variable
        names with their real values, the secret unmasked: what a framework's configuration
        takes (Flask's ``app.config.update(...)``, Django's ``override_settings(**...)``;
        ``WixFlask`` and the Django middleware read it back). ``model_dump`` would give the
        secret as ``'**********'``. Defaults are left out, so the framework's own values
        (its ``WIXAPP_GUARD_PATHS``, say) are not overwritten by them."""
        config: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            if name not in self.model_fields_set:
                continue
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                config[field.alias or name] = list(value) if isinstance(value, list) else value
        return config


class ServeSettings(BaseSettings):
    """How ``wixapp serve`` guards its connections (read by every worker process)."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    # Seconds a client has to send a request's line and headers, then its body.
    header_timeout: float = Field(default=10.0, gt=0, alias="WIXAPP_HEADER_TIMEOUT")
    body_timeout: float = Field(default=30.0, gt=0, alias="WIXAPP_BODY_TIMEOUT")
    # A request line and headers larger than this, or more header lines, are answered 431.
    max_header_bytes: int = Field(default=65_536, ge=1024, alias="WIXAPP_MAX_HEADER_BYTES")
    max_headers: int = Field(default=100, ge=8, alias="WIXAPP_MAX_HEADERS")
    # Concurrent connections per worker; beyond it new requests are answered 503.
    max_connections: int = Field(default=1000, gt=0, alias="WIXAPP_MAX_CONNECTIONS")


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _without_password(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    return url.strip().replace(f":{parts.password}@", ":***@", 1)


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a missing or bad variable raises ConfigurationError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def load_serve_settings() -> ServeSettings:
    try:
        return ServeSettings()
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
            problems.append(f"{name}: {str(error['msg']).removeprefix('Value error, ')}")
    return "wixapp configuration: " + "; ".join(problems) + "."


def _parse_csp(text: str) -> dict[str, list[str]]:
    """``"style-src a b; img-src c"`` → ``{"style-src": ["a", "b"], "img-src": ["c"]}``."""
    directives: dict[str, list[str]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, *sources = part.split()
        if name.lower() not in _CSP_DIRECTIVES:
            raise ValueError(f"{name!r} is not a CSP directive name (e.g. style-src)")
        for source in sources:
            if not _CSP_SOURCE.fullmatch(source):
                raise ValueError(f"{source!r} is not a CSP source (e.g. https://cdn.example.com)")
        directives.setdefault(name.lower(), []).extend(sources)
    return directives
