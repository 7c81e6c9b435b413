"""The FastAPI app factory: the ready backend of a self-hosted Wix app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles

from wixapp.config import Settings, load_settings
from wixapp.core import WixApp
from wixapp.errors import WixAppError
from wixapp.lifecycle import DRAIN_SECONDS, Lifecycle
from wixapp.metrics import Metrics
from wixapp.server.frontend import STATIC_DIR, frontend_router
from wixapp.server.middleware import (
    BodyLimitMiddleware,
    QueryStringMiddleware,
    TimingMiddleware,
)
from wixapp.server.redaction import redact_access_log
from wixapp.server.responses import error_response, response_for
from wixapp.server.routes import router
from wixapp.server.seen import LastSeenRecorder
from wixapp.server.webhook_routes import webhook_router
from wixapp.store import Store
from wixapp.webhooks import WebhookRouter

__all__ = ["ServerState", "create_app"]

logger = logging.getLogger("wixapp.server")

MAX_REQUEST_BYTES = 1_048_576
CORS_HEADERS = ["Authorization", "Content-Type", "x-wix-linguist", "If-Match", "If-None-Match"]
EXPOSED_HEADERS = ["ETag", "Retry-After", "WWW-Authenticate"]


@dataclass
class ServerState:
    """What the routes reach through ``request.app.state.wixapp``."""

    settings: Settings
    wix: WixApp
    store: Store
    seen: LastSeenRecorder
    lifecycle: Lifecycle
    webhooks: WebhookRouter
    webhook_key_warned: bool = False  # the missing-key 503 is logged once


def create_app(
    settings: Settings | None = None,
    *,
    wix_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    migrate: bool | None = None,
    webhooks: WebhookRouter | None = None,
) -> FastAPI:
    """Build the backend. ``wix_transport`` plugs in another transport (the emulator).

    ``webhooks`` holds the handlers ``POST /webhooks`` runs in the background after its
    built-in lifecycle handling (also reachable as ``app.state.webhooks``).
    """
    settings = settings or load_settings()
    migrate = settings.migrate_on_start if migrate is None else migrate
    redact_access_log()  # the legacy `instance` parameter is a credential
    metrics = Metrics()
    webhooks = webhooks if webhooks is not None else WebhookRouter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = _open_state(settings, wix_transport, metrics, clock, migrate, webhooks)
        async with opened as state:
            app.state.wixapp = state
            async with state.lifecycle.sweeping():
                yield

    app = FastAPI(
        title="wixapp backend",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = metrics
    app.state.webhooks = webhooks
    app.include_router(router)
    app.include_router(webhook_router)
    app.include_router(frontend_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    _install_error_handlers(app)
    app.add_middleware(TimingMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_REQUEST_BYTES)
    app.add_middleware(QueryStringMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "PUT", "POST", "OPTIONS"],
        allow_headers=CORS_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
    return app


@asynccontextmanager
async def _open_state(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
    metrics: Metrics,
    clock: Callable[[], float],
    migrate: bool,
    webhooks: WebhookRouter,
) -> AsyncIterator[ServerState]:
    store = await Store.open(settings.database_url, migrate=migrate)
    wix = WixApp(settings, transport=transport, metrics=metrics, clock=clock)
    seen = LastSeenRecorder(store.touch_many, interval=settings.last_seen_interval, clock=clock)
    lifecycle = Lifecycle(
        store,
        forget=wix.forget_instance,
        retention=settings.removed_retention_seconds,
        clock=clock,
    )
    seen.start()
    try:
        await wix.start()  # with Redis: listen for the other processes' invalidations
        yield ServerState(
            settings=settings,
            wix=wix,
            store=store,
            seen=seen,
            lifecycle=lifecycle,
            webhooks=webhooks,
        )
    finally:
        await webhooks.shutdown(DRAIN_SECONDS)
        await seen.stop()
        await wix.aclose()
        await store.close()


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WixAppError)
    async def wixapp_error(_request: Request, error: WixAppError) -> JSONResponse:
        if error.status >= 500:
            logger.warning("answering %d %s: %s", error.status, error.code, error.detail)
        return response_for(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in error.errors()
        ]
        return error_response(
            422, "invalid_request", "The request does not match the schema.", problems=problems
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), error.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected %s while answering a request", type(error).__name__)
        return error_response(500, "internal_error", "Something went wrong on our side.")
