"""A plain ASGI middleware: wixapp for any ASGI framework (Starlette, Litestar, Quart, …).

    app = WixMiddleware(app, guard=["/api/"])      # settings from the environment

For each HTTP request it guards, it identifies the caller (the ``Authorization`` header or,
without one, the legacy signed ``instance`` parameter) and puts the ``Caller`` in the scope:
``caller_of(scope)``, or ``request.state.wix_caller`` in Starlette and its kin. A request
that cannot be identified gets wixapp's JSON error (401, 429, 503 with Retry-After, …) from
the middleware itself, as does any ``WixAppError`` the app lets escape before it starts its
answer. Widget CORS follows the backend's rules; ``POST /webhooks`` (``webhook_path``) is
received as the backend receives it (verified, applied to wixapp's store, then handlers).

Given ``settings`` (or nothing: the environment) the middleware owns its ``WixApp``: it
starts it with the ASGI lifespan and closes it, and the webhook store, at its end. Given
``wix``, it only uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import httpx
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.app import WixApp
from wixapp.config import Settings
from wixapp.errors import WixAppError
from wixapp.models import Caller
from wixapp.server.cors import policy_for_any_routes
from wixapp.server.lean import scope_client, scope_header
from wixapp.server.receiver import WebhookReceiver
from wixapp.server.responses import response_for
from wixapp.webhooks import WebhookRouter

__all__ = ["CALLER_SCOPE_KEY", "WixMiddleware", "caller_of"]

logger = logging.getLogger("wixapp.adapters")

CALLER_SCOPE_KEY = "wixapp.caller"
"""Where the caller lives in the ASGI scope (also ``scope["state"]["wix_caller"]``)."""

Guard = Callable[[str], bool]


def caller_of(scope: Scope) -> Caller:
    """The caller the middleware identified for this request's scope."""
    caller = scope.get(CALLER_SCOPE_KEY)
    if not isinstance(caller, Caller):
        raise LookupError(
            "No wixapp caller in this request: guard its path with WixMiddleware(guard=...)."
        )
    return caller


class WixMiddleware:
    """Identify callers, answer wixapp's JSON errors, widget CORS and webhooks.

    ``guard``: path prefixes to identify (``None``: every request but the webhook path), or
    a predicate on the path. ``legacy``: accept the signed ``instance`` query parameter when
    a request has no ``Authorization`` header. ``cors``: answer preflights and add CORS
    headers (``WIXAPP_CORS_ORIGINS``). ``webhook_path``: where Wix posts (``None``: not
    handled); ``webhooks``: the handlers that run after wixapp's own lifecycle handling.
    ``transport`` and ``clock`` reach the ``WixApp`` the middleware builds (tests).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        wix: WixApp | None = None,
        settings: Settings | None = None,
        guard: Iterable[str] | Guard | None = None,
        legacy: bool = True,
        cors: bool = True,
        webhook_path: str | None = "/webhooks",
        webhooks: WebhookRouter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._owns_wix = wix is None
        self.wix = wix if wix is not None else WixApp(settings, transport=transport, clock=clock)
        self.webhooks = webhooks if webhooks is not None else WebhookRouter()
        self._guarded = _guard_of(guard)
        self._legacy = legacy
        self._webhook_path = webhook_path
        self._clock = clock
        self._receiver: WebhookReceiver | None = None
        self._receiver_lock = asyncio.Lock()
        self._closing = contextlib.AsyncExitStack()
        inner = _Identifying(app, self)
        cors_policy = policy_for_any_routes(self.wix.settings)
        self._app: ASGIApp = cors_policy.middleware(inner) if cors else inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, receive, self._lifespan_send(send))
            return
        await self._app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and self._owns_wix:
                await self.wix.start()
            elif message["type"] == "lifespan.shutdown.complete":
                await self.aclose()
            await send(message)

        return lifespan_send

    async def aclose(self) -> None:
        """Drain webhook handlers, close the webhook store and (if owned) the ``WixApp``."""
        await self._closing.aclose()
        self._receiver = None
        if self._owns_wix:
            await self.wix.aclose()

    async def identify(self, scope: Scope) -> Caller:
        """The request's caller, read from the scope as the backend's lean path reads it."""
        query = scope.get("query_string", b"")
        instance = QueryParams(query).get("instance") if self._legacy and query else None
        return await self.wix.identify_request(
            scope_header(scope, b"authorization"), instance=instance, client=scope_client(scope)
        )

    def guards(self, scope: Scope) -> bool:
        return bool(scope["method"] != "OPTIONS" and self._guarded(scope["path"]))

    def is_webhook(self, scope: Scope) -> bool:
        return bool(scope["method"] == "POST" and scope["path"] == self._webhook_path)

    async def receiver(self) -> WebhookReceiver:
        """The webhook receiver; its store is opened on the first webhook."""
        async with self._receiver_lock:
            if self._receiver is None:
                opened = WebhookReceiver.opened(
                    self.wix.settings,
                    routes=self.webhooks,
                    forget=self.wix.forget_instance,
                    clock=self._clock,
                )
                self._receiver = await self._closing.enter_async_context(opened)
            return self._receiver


class _Identifying:
    """The inner layer: webhooks, identification into the scope, wixapp's errors."""

    def __init__(self, app: ASGIApp, owner: WixMiddleware) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer(send)
        try:
            if self.owner.is_webhook(scope):
                await self._webhook(scope, receive, send)
                return
            if self.owner.guards(scope):
                scope = _with_caller(scope, await self.owner.identify(scope))
            await self.app(scope, receive, answer.send)
        except WixAppError as error:
            if answer.started:
                raise
            await answer.error(error, scope, receive)

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        receiver = await self.owner.receiver()
        response = await receiver.receive(body)
        await response(scope, receive, send)


class _Answer:
    """Tracks whether the app has started its answer (after that, no error can be sent)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def error(self, error: WixAppError, scope: Scope, receive: Receive) -> None:
        if error.status >= 500:
            logger.warning("answering %d %s: %s", error.status, error.code, error.detail)
        await response_for(error)(scope, receive, self._send)


def _with_caller(scope: Scope, caller: Caller) -> Scope:
    state = {**scope.get("state", {}), "wix_caller": caller}
    return {**scope, CALLER_SCOPE_KEY: caller, "state": state}


def _guard_of(guard: Iterable[str] | Guard | None) -> Guard:
    if guard is None:
        return lambda _path: True
    if callable(guard):
        return guard
    prefixes = tuple(guard)
    if not prefixes or not all(isinstance(p, str) and p.startswith("/") for p in prefixes):
        raise ValueError("guard: give path prefixes starting with '/', or a predicate")
    return lambda path: path.startswith(prefixes)
