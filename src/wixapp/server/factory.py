"""The FastAPI app factory: the ready backend of a self-hosted Wix app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from wixapp.__version__ import __version__
from wixapp.app import WixApp
from wixapp.config import Settings, load_settings
from wixapp.errors import InvalidRequestError, WixAppError
from wixapp.logs import ensure_wixapp_logging
from wixapp.metrics import Metrics
from wixapp.models import AppInstance
from wixapp.server.frontend import STATIC_DIR, frontend_router
from wixapp.server.lean import LeanRoute, declare_routes, lean_table
from wixapp.server.middleware import EdgeMiddleware
from wixapp.server.routes import authorization_documented, router
from wixapp.server.seen import LastSeenRecorder, SiteDetails
from wixapp.server.settings_cache import settings_cache
from wixapp.server.settings_schema import SettingsSchema
from wixapp.server.state import ServerState
from wixapp.server.webhook_routes import webhook_router
from wixapp.store import Store
from wixapp.web import Edge, error_answer, error_response, open_store, unexpected_answer
from wixapp.webhooks import WebhookRouter

__all__ = ["Lifespan", "create_app"]

logger = logging.getLogger("wixapp.server")

MAX_REQUEST_BYTES = 1_048_576

# The app's own start-up and shutdown, run inside wixapp's (the store and WixApp are open).
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any] | None]]


def create_app(
    settings: Settings | None = None,
    *,
    wix: WixApp | None = None,
    store: Store | None = None,
    wix_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] | None = None,
    migrate: bool | None = None,
    webhooks: WebhookRouter | None = None,
    lifespan: Lifespan | None = None,
    migrations: str | None = None,
    settings_model: type[BaseModel] | None = None,
    lean_routes: Sequence[LeanRoute] = (),
) -> FastAPI:
    """Build the backend.

    ``settings`` default to the environment (or to ``wix.settings``). Pass an existing ``wix``
    and ``store`` to share one cache and one connection pool with the app's other work
    (background jobs, another framework): the backend then uses them and leaves closing them
    to their owner. Without them it opens its own, with ``wix_transport`` plugging in another
    transport (the emulator) and ``clock`` another time. ``webhooks`` holds the handlers
    ``POST /webhooks`` runs in the background after its built-in lifecycle handling (also
    reachable as ``app.state.webhooks``).

    ``lifespan`` is the app's own (``@asynccontextmanager async def lifespan(app): ...``):
    it runs once wixapp's state is open, so ``database_engine(app)`` works in it, and any
    mapping it yields becomes the request state. ``migrations`` names the app's own Alembic
    scripts (a folder or ``package:folder``, default ``WIXAPP_MIGRATIONS``), which start-up
    runs after wixapp's when it migrates. ``settings_model`` is the pydantic model of the
    per-instance settings document (``GET/PUT /api/settings``; every field with a default),
    instead of wixapp's ``WidgetSettings``. ``lean_routes`` are the app's own hot GETs
    (``lean_route(path, handler)``), answered by the edge as ``/get-instance`` is, with their
    OpenAPI declared on the app.
    """
    settings = settings or (wix.settings if wix is not None else load_settings())
    migrate = settings.migrate_on_start if migrate is None else migrate
    ensure_wixapp_logging()  # formatted lines under servers that configure only their own
    metrics = wix.metrics if wix is not None else Metrics()
    webhooks = webhooks if webhooks is not None else WebhookRouter()
    migrations = migrations or settings.app_migrations
    settings_schema = SettingsSchema.of(settings_model)  # a bad model fails here, not later
    lean = lean_table(lean_routes)  # a path taken twice fails here
    parts = _Parts(
        settings,
        wix,
        store,
        wix_transport,
        metrics,
        clock,
        migrate,
        webhooks,
        migrations,
        settings_schema,
    )

    @asynccontextmanager
    async def wixapp_lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        async with _open_state(parts) as state:
            app.state.wixapp = state
            async with _app_lifespan(lifespan, app) as app_state:
                _settle_fastapi_telemetry(app)
                yield app_state

    app = _Backend(
        title="wixapp backend",
        version=__version__,
        lifespan=wixapp_lifespan,
        docs_url=None,
        redoc_url=None,
        # Starlette's slash redirect builds Location from the client's Host header; the
        # security middleware drops a trailing slash instead.
        redirect_slashes=False,
    )
    app.state.metrics = metrics
    app.state.webhooks = webhooks
    app.include_router(router)
    app.include_router(webhook_router)
    app.include_router(frontend_router)
    declare_routes(app.router, lean_routes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    _install_error_handlers(app)
    app.openapi = authorization_documented(  # type: ignore[method-assign]
        app, settings_schema.openapi(app.openapi)
    )
    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        max_bytes=MAX_REQUEST_BYTES,
        routes=app.router.routes,
        settings=settings,
        lean=lean,
    )
    return app


class _Backend(FastAPI):
    """FastAPI, with the lean GETs sent straight to EdgeMiddleware, in front of the layers
    FastAPI puts before an app's middleware (server errors, exception telemetry, the body
    limit of a mounted app): each costs a request a call, one a wrapped ``send``, and a lean
    answer needs none of them (it answers its own errors, and reads no body)."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        layer: Any = stack
        while layer is not None and not isinstance(layer, EdgeMiddleware):
            layer = getattr(layer, "app", None)
        return stack if layer is None else layer.in_front_of(stack)


def _settle_fastapi_telemetry(app: FastAPI) -> None:
    """FastAPI (0.16x) instruments requests with OpenTelemetry when a provider is configured,
    and asks OpenTelemetry whether one is on every request (~4 µs, a sixth of a cached
    ``/get-instance``). Providers are configured before serving (before ``create_app``, or
    in the app's lifespan, which has run by now), so the answer is taken once here: with no
    provider configured the per-request check is skipped; with one, nothing changes."""
    native = getattr(app, "_native_telemetry", None)  # absent before FastAPI 0.16x
    if native is not None and not native.enabled():
        native.enabled = _never


def _never() -> bool:
    return False


@asynccontextmanager
async def _app_lifespan(
    lifespan: Lifespan | None, app: FastAPI
) -> AsyncIterator[Mapping[str, Any]]:
    if lifespan is None:
        yield {}
        return
    async with lifespan(app) as app_state:
        yield app_state or {}


@dataclass(frozen=True, slots=True)
class _Parts:
    """What ``create_app`` was given; the lifespan opens what is missing."""

    settings: Settings
    wix: WixApp | None
    store: Store | None
    transport: httpx.AsyncBaseTransport | None
    metrics: Metrics
    clock: Callable[[], float] | None
    migrate: bool
    webhooks: WebhookRouter
    migrations: str | None
    settings_schema: SettingsSchema


@asynccontextmanager
async def _open_state(parts: _Parts) -> AsyncIterator[ServerState]:
    settings, clock = parts.settings, parts.clock or time.time
    async with AsyncExitStack() as owned:
        owned.callback(parts.metrics.retire)  # a stopped worker's gauges leave the sums
        store = parts.store
        if store is None:
            store = await open_store(settings, migrate=parts.migrate, migrations=parts.migrations)
            owned.push_async_callback(store.close)
        wix = parts.wix
        if wix is None:
            wix = WixApp(
                settings, transport=parts.transport, metrics=parts.metrics, clock=parts.clock
            )
            owned.push_async_callback(wix.aclose)
        seen = LastSeenRecorder(
            store.touch_many,
            write_site=_site_writer(store),
            interval=settings.last_seen_interval,
            clock=clock,
            max_size=settings.instance_cache_size,
            claims=wix.interval_claims("seen", settings.last_seen_interval),
        )
        wix.on_instance_fetched(lambda instance_id, data: seen.note_site(instance_id, _site(data)))
        edge = Edge(wix, webhooks=parts.webhooks)
        await edge.start(store)  # the lifecycle every front door runs
        owned.push_async_callback(edge.aclose)
        seen.start()
        owned.push_async_callback(seen.stop)
        await wix.start()  # with Redis: listen for the other processes' invalidations
        logger.info(
            "backend ready: app %s, %s database%s",
            settings.app_id,
            store.engine.dialect.name,
            f", app migrations {parts.migrations}" if parts.migrations else "",
        )
        yield ServerState(
            settings=settings,
            wix=wix,
            store=store,
            seen=seen,
            edge=edge,
            settings_cache=settings_cache(wix, store, settings),
            settings_schema=parts.settings_schema,
        )


def _site(data: AppInstance) -> SiteDetails:
    return data.site.site_id, data.site.url, data.site.locale


def _site_writer(store: Store) -> Callable[[str, SiteDetails], Awaitable[None]]:
    async def write(instance_id: str, details: SiteDetails) -> None:
        site_id, url, locale = details
        await store.update_instance_info(instance_id, site_id=site_id, site_url=url, locale=locale)

    return write


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WixAppError)
    async def wixapp_error(_request: Request, error: WixAppError) -> JSONResponse:
        return error_answer(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return error_answer(InvalidRequestError(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), error.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        return unexpected_answer(error)
