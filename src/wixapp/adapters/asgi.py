"""A plain ASGI middleware: wixapp for any ASGI framework (Starlette, Litestar, Quart, …).

    app = WixMiddleware(app, guard=["/api/"])   # settings from the environment

Each request under the guard (``guard=``, else ``WIXAPP_GUARD_PATHS``) is
identified before the app sees it, and the ``Caller`` is put in the scope: ``caller_of(scope)``,
or ``request.state.wix_caller`` in Starlette and its kin. What it does is the shared edge's
(:class:`wixapp.web.Edge`): errors, CORS, webhooks (``POST /webhooks``) and the app's
lifecycle, as the ready backend does them. Given ``settings`` (or nothing: the environment)
the middleware owns its ``WixApp``, started and closed with the ASGI lifespan; given ``wix``,
it only uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.app import WixApp
from wixapp.cache.shared import OneRequest
from wixapp.config import Settings
from wixapp.errors import WixAppError
from wixapp.models import Caller
from wixapp.web import Credentials, Edge, Guard, error_answer
from wixapp.webhooks import WebhookRouter

__all__ = ["CALLER_SCOPE_KEY", "WixMiddleware", "caller_of"]

CALLER_SCOPE_KEY = "wixapp.caller"
"""Where the caller lives in the ASGI scope (also ``scope["state"]["wix_caller"]``)."""


def caller_of(scope: Scope) -> Caller:
    """The caller the middleware identified for this request's scope."""
    caller = scope.get(CALLER_SCOPE_KEY)
    if not isinstance(caller, Caller):
        raise LookupError(
            "No wixapp caller in this request: guard its path with WixMiddleware(guard=...) "
            "or WIXAPP_GUARD_PATHS."
        )
    return caller


class WixMiddleware:
    """Identify callers, answer wixapp's JSON errors, widget CORS and webhooks.

    ``guard``, ``legacy``: see :class:`wixapp.web.Edge`. ``cors``: answer preflights and add
    CORS headers (``WIXAPP_CORS_ORIGINS``). ``webhook_path``: where Wix posts (``None``: not
    handled); ``webhooks``: the handlers run after wixapp's own lifecycle handling.
    ``transport`` and ``clock`` reach the ``WixApp`` the middleware builds (tests).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        wix: WixApp | None = None,
        settings: Settings | None = None,
        guard: Iterable[str] | Guard | None = None,
        legacy: bool | None = None,
        cors: bool = True,
        webhook_path: str | None = "/webhooks",
        webhooks: WebhookRouter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._owns_wix = wix is None
        self.wix = wix if wix is not None else WixApp(settings, transport=transport, clock=clock)
        self.edge = Edge(self.wix, guard=guard, legacy=legacy, webhooks=webhooks)
        self.webhooks = self.edge.webhooks
        self._webhook_path = webhook_path
        inner = _Identifying(app, self.edge, webhook_path)
        self._app: ASGIApp = self.edge.cors.middleware(inner) if cors else inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, receive, self._lifespan_send(send))
            return
        await self._app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                if self._owns_wix:
                    await self.wix.start()
                await self.edge.start()
            elif message["type"] == "lifespan.shutdown.complete":
                await self.aclose()
            await send(message)

        return lifespan_send

    async def aclose(self) -> None:
        """Drain webhook handlers, stop the lifecycle and (if owned) close the ``WixApp``."""
        await self.edge.aclose()
        if self._owns_wix:
            await self.wix.aclose()


class _Identifying:
    """The inner layer: webhooks, identification into the scope, wixapp's errors."""

    def __init__(self, app: ASGIApp, edge: Edge, webhook_path: str | None) -> None:
        self.app = app
        self.edge = edge
        self.webhook_path = webhook_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with OneRequest():  # the request's calls to Redis share one time budget
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = _Answer(send)
        try:
            if scope["method"] == "POST" and scope["path"] == self.webhook_path:
                await self._webhook(scope, receive, send)
                return
            if self.edge.guards(scope["method"], scope["path"]):
                caller = await self.edge.identify(Credentials.from_scope(scope))
                scope = _with_caller(scope, caller)
            await self.app(scope, receive, answer.send)
        except WixAppError as error:
            if answer.started:
                raise
            await error_answer(error)(scope, receive, send)

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        receiver = await self.edge.started_receiver()
        await (await receiver.receive(body))(scope, receive, send)


class _Answer:
    """Tracks whether the app has started its answer (after that, no error can be sent)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


def _with_caller(scope: Scope, caller: Caller) -> Scope:
    state = {**scope.get("state", {}), "wix_caller": caller}
    return {**scope, CALLER_SCOPE_KEY: caller, "state": state}
