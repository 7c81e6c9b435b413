"""The request edge every front door shares: one set of rules, one lifecycle.

The FastAPI backend, the ASGI middleware, Flask and Django only translate their framework's
request and answer; what they do with them is decided here, once:

- **which requests are identified** before the app's code runs: ``guards(method, path)``,
  the path prefixes of ``WIXAPP_GUARD_PATHS`` (default none) or the door's own ``guard``;
  CORS preflights never. Any route may also ask for its caller (dependency, decorator);
- **how**: ``identify(credentials)``, the ``Authorization`` header or, on a GET or HEAD
  without one and while ``WIXAPP_LEGACY_INSTANCE`` allows it, the legacy signed
  ``instance`` value;
- **CORS** for widgets and panels (``cors``, Starlette's rules);
- **webhooks**: ``receiver`` verifies, applies to wixapp's store and runs the handlers;
- **the lifecycle**, started by ``start()``: the store opened (or shared), the removals
  applied before this process started loaded, removals followed without Redis, removed
  settings swept (:func:`wixapp.web.lifecycle.running_lifecycle`). A removed app is thus
  refused by every door at once, with its cached tokens and its legacy values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy.exc import SQLAlchemyError

from wixapp.app import WixApp
from wixapp.config import Settings
from wixapp.errors import ConfigurationError, StoreUnavailableError
from wixapp.logs import redact_access_logs
from wixapp.models import Caller
from wixapp.store import Store
from wixapp.web.cors import CorsPolicy, policy_for_any_routes
from wixapp.web.credentials import Credentials
from wixapp.web.lifecycle import Lifecycle, running_lifecycle
from wixapp.web.receiver import WebhookReceiver
from wixapp.webhooks import WebhookRouter

__all__ = ["Edge", "Guard", "open_store"]

logger = logging.getLogger("wixapp.web")

Guard = Callable[[str], bool]
"""Whether a request path is identified before the app's code runs."""


class Edge:
    """What every front door shares (see the module's doc).

    ``guard``: path prefixes or a predicate on the path (default ``WIXAPP_GUARD_PATHS``);
    ``legacy``: accept the legacy ``instance`` parameter (default
    ``WIXAPP_LEGACY_INSTANCE``); ``webhooks``: the user's handlers, run after wixapp's own
    lifecycle handling.
    """

    def __init__(
        self,
        wix: WixApp,
        *,
        guard: Iterable[str] | Guard | None = None,
        legacy: bool | None = None,
        webhooks: WebhookRouter | None = None,
    ) -> None:
        settings = wix.settings
        redact_access_logs()  # whichever server fronts this door logs query strings
        self.wix = wix
        self.webhooks = webhooks if webhooks is not None else WebhookRouter()
        self.legacy = settings.legacy_instance if legacy is None else legacy
        self.cors: CorsPolicy = policy_for_any_routes(settings)
        self._guarded = guard_of(settings.guard_paths if guard is None else guard)
        self.guarding = guard is not None or bool(settings.guard_paths)
        """False when no path is guarded: a door may skip ``guards`` (the hot path)."""
        self._receiver: WebhookReceiver | None = None
        self._running = contextlib.AsyncExitStack()
        self._starting = asyncio.Lock()

    @property
    def settings(self) -> Settings:
        return self.wix.settings

    # -- requests

    def guards(self, method: str, path: str) -> bool:
        """Whether a request is identified before the app's own code sees it."""
        return method != "OPTIONS" and self._guarded(path)

    def identify(self, credentials: Credentials) -> Awaitable[Caller]:
        """The request's caller: its token, else its legacy ``instance`` value, on a read
        (GET, HEAD) while ``legacy`` allows it; a write always needs the token. (Not a
        coroutine of its own: one frame less on every request.)"""
        legacy = self.legacy and credentials.safe
        return self.wix.identify_request(
            credentials.authorization,
            instance=credentials.instance if legacy else None,
            client=credentials.client,
        )

    # -- the lifecycle and webhooks

    @property
    def receiver(self) -> WebhookReceiver:
        if self._receiver is None:
            raise RuntimeError("The wixapp edge is not started: await edge.start() first.")
        return self._receiver

    @property
    def lifecycle(self) -> Lifecycle:
        return self.receiver.lifecycle

    async def start(
        self,
        store: Store | None = None,
        *,
        migrate: bool | None = None,
        migrations: str | None = None,
    ) -> None:
        """Open the store (unless one is given: its owner closes it) and run the lifecycle
        until :meth:`aclose`. Idempotent; safe to call from concurrent first requests."""
        async with self._starting:
            if self._receiver is not None:
                return
            running = self._running
            if store is None:
                store = await open_store(
                    self.settings,
                    migrate=self.settings.migrate_on_start if migrate is None else migrate,
                    migrations=migrations or self.settings.app_migrations,
                )
                running.push_async_callback(store.close)
            opened = running_lifecycle(self.wix, store, webhooks=self.webhooks)
            lifecycle = await running.enter_async_context(opened)
            self._receiver = WebhookReceiver(
                settings=self.settings, lifecycle=lifecycle, routes=self.webhooks
            )
            self._receiver.check_key()

    async def started_receiver(self) -> WebhookReceiver:
        """The receiver, starting the edge first if the host never ran its start-up (an ASGI
        server without lifespan, say)."""
        await self.start()
        return self.receiver

    async def aclose(self) -> None:
        """Drain the webhook handlers, stop the lifecycle, close the store if owned."""
        async with self._starting:
            self._receiver = None
            await self._running.aclose()
            self._running = contextlib.AsyncExitStack()


def guard_of(guard: Iterable[str] | Guard) -> Guard:
    """A path predicate from prefixes (each starting with '/') or a predicate itself."""
    if callable(guard):
        return guard
    prefixes = tuple(guard)
    if not all(isinstance(p, str) and p.startswith("/") for p in prefixes):
        raise ValueError("guard: give path prefixes starting with '/', or a predicate")
    if not prefixes:
        return lambda _path: False
    return lambda path: path.startswith(prefixes)


async def open_store(settings: Settings, *, migrate: bool, migrations: str | None) -> Store:
    """The store, reachable (and migrated, if asked), or one ConfigurationError line."""
    try:
        store = await Store.open(
            settings.database_url,
            migrate=migrate,
            app_migrations=migrations,
            sqlite_busy_timeout=settings.sqlite_busy_timeout,
        )
        await store.ping()
    except (StoreUnavailableError, SQLAlchemyError, OSError) as error:
        raise ConfigurationError(
            "WIXAPP_DATABASE_URL: the database cannot be reached "
            f"({_cause(error)}); check the URL and that the database is up."
        ) from None
    if await store.pending_migrations():
        logger.warning(
            "the database schema is behind this version (wixapp's or the app's own migrations):"
            " /readyz answers 503 and requests that need the database 503 migrations_pending"
            " until `wixapp migrate` has run"
        )
    return store


def _cause(error: BaseException) -> str:
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = (str(getattr(cause, "orig", None) or cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {text[:200]}" if text else type(cause).__name__
