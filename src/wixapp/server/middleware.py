"""EdgeMiddleware: the backend's one middleware layer, pure ASGI.

Everything every HTTP request needs, in the order it runs:

1. the security headers (:mod:`wixapp.server.headers`: nosniff on every answer, the pages'
   policy on HTML, a trailing slash dropped before routing; the lean answers write their
   headers themselves, the rest pass through one wrapped ``send``);
2. CORS (:class:`~wixapp.web.cors.RouteCORSMiddleware`'s rules, Starlette's code:
   preflights answered here, the response headers added to every answer: a lean answer
   writes its origin's, computed by the same code once per origin, with its own);
3. query-string hygiene: raw non-ASCII bytes percent-encoded, as a browser would (some ASGI
   servers pass them through, and parts of Starlette decode the query string as strict
   UTF-8: a stray byte was a 500);
4. the request body limit: 413 by ``Content-Length`` (before anyone is identified) or by
   counting what arrives;
5. the guard: a request under ``WIXAPP_GUARD_PATHS`` is identified by the shared edge
   (:class:`wixapp.web.Edge`) and its caller put in the scope (``current_caller`` and the
   lean routes take it from there), or answered with wixapp's JSON error;
6. the lean answers of the widget's GET requests (:mod:`wixapp.server.lean`), which skip the
   rest of the stack;
7. timing: each request's latency by route template and status class, in ``/metrics``.

At start-up, a configuration problem the lifespan finds is reported as one line naming the
variable, not the traceback uvicorn would log for a failed lifespan.

One layer instead of six: each layer costs a coroutine and a wrapped ``send`` per request,
which on the hot path was a measurable share of the time. For the same reason the request's
headers are read in one pass, and the shared tier's request budget (``OneRequest``) is set
only when there is a shared tier (Redis).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.cache.shared import OneRequest
from wixapp.config import Settings
from wixapp.errors import ConfigurationError, PayloadTooLargeError, WixAppError
from wixapp.metrics import Metrics
from wixapp.server.headers import NOSNIFF, SecurityHeaders
from wixapp.server.lean import CALLER_SCOPE_KEY, Headerlist, LeanRoute, caller_in
from wixapp.server.state import ServerState
from wixapp.web import error_answer, unexpected_answer
from wixapp.web.cors import RouteCORSMiddleware, cors_headers

__all__ = ["EdgeMiddleware"]


class _TooLarge(Exception):
    pass


_MAX_ORIGINS = 1024  # CORS headers kept per origin; a client chooses its Origin, so bounded


class EdgeMiddleware:
    """See the module's doc."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_bytes: int,
        routes: Sequence[BaseRoute],
        settings: Settings,
        lean: Mapping[str, LeanRoute],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes
        # The backend's CORS rules (RouteCORSMiddleware's), applied here, not as a layer.
        self._cors = RouteCORSMiddleware(_unreachable, routes=routes, settings=settings)
        self._security = SecurityHeaders(settings)
        self.lean = dict(lean)  # path → LeanRoute (GET only)
        self._trailers: dict[bytes | None, Headerlist] = {}
        # The shared tier's per-request budget (OneRequest) matters only with Redis.
        self._budgeted = settings.redis_url is not None and settings.cache_enabled

    def in_front_of(self, stack: ASGIApp) -> ASGIApp:
        """``stack`` (the app's middleware, this layer among it), with the lean GETs sent
        here first."""
        return _LeanFirst(self, stack)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = functools.partial(_one_line_startup_error, send=send)
            await self.app(scope, receive, send)
            return
        if not self._budgeted:
            await self._http(scope, receive, send)
            return
        with OneRequest():  # the request's calls to Redis share one time budget
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = self._security.routed(scope)
        origin, preflight, declared = _request_headers(scope)
        if origin is not None and preflight and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            answer = self._cors.preflight_response(request_headers=headers)
            await answer(scope, receive, self._security.wrap(send))
            return
        query = scope.get("query_string", b"")
        if query and not query.isascii():
            scope = {**scope, "query_string": _percent_encoded(query)}
        started = time.perf_counter()
        lean = self.lean.get(scope["path"]) if scope["method"] == "GET" else None
        if lean is not None:
            # A lean answer writes its headers itself: the security header and this origin's
            # CORS headers follow its own (no wrapped send).
            await self._lean(lean, scope, receive, send, self._trailer(origin), started)
            return
        send = functools.partial(
            self._cors.send, send=self._security.wrap(send), request_headers=Headers(scope=scope)
        )
        if declared > self.max_bytes:
            await self._refuse(scope, receive, send)  # no identification for a body refused
            return
        state: ServerState = scope["app"].state.wixapp
        if state.edge.guarding and state.edge.guards(scope["method"], scope["path"]):
            try:
                scope[CALLER_SCOPE_KEY] = await caller_in(state, scope)
            except WixAppError as error:
                refusal = error_answer(error)
                await refusal(scope, receive, send)
                # Refused before routing: no route template to count it under.
                self.metrics.request_done(
                    "guarded", refusal.status_code, time.perf_counter() - started
                )
                return
        await self._forward(scope, receive, send, started)

    async def _lean(
        self,
        lean: LeanRoute,
        scope: Scope,
        receive: Receive,
        send: Send,
        trailer: Headerlist,
        started: float,
    ) -> None:
        state: ServerState = scope["app"].state.wixapp
        if state.edge.guarding and state.edge.guards("GET", scope["path"]):
            refusal = await _guarded(state, scope)
            if refusal is not None:
                refusal.raw_headers.extend(trailer)
                await refusal(scope, receive, send)
                self.metrics.request_done(
                    lean.path, refusal.status_code, time.perf_counter() - started
                )
                return
        status = await lean(state, scope, receive, send, trailer)
        self.metrics.request_done(lean.path, status, time.perf_counter() - started)

    def _trailer(self, origin: bytes | None) -> Headerlist:
        """The headers a lean answer adds after its own: nosniff, then the CORS headers
        Starlette's rules give an answer to ``origin`` (computed once per origin)."""
        found = self._trailers.get(origin)
        if found is None:
            if len(self._trailers) >= _MAX_ORIGINS:
                self._trailers.clear()
            found = (NOSNIFF, *cors_headers(self._cors, origin))
            self._trailers[origin] = found
        return found

    async def _forward(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """The rest of the stack, with the body counted and the answer timed."""
        received = 0
        status = 500
        answered = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def observing_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
            await send(message)

        try:
            await self.app(scope, counting_receive, observing_send)
        except _TooLarge:
            if not answered:
                await self._refuse(scope, receive, send)
                status = 413
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.request_done(path, status, time.perf_counter() - started)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_answer(PayloadTooLargeError(self.max_bytes))(scope, receive, send)


async def _guarded(state: ServerState, scope: Scope) -> JSONResponse | None:
    """Identify a lean GET's caller for the guard (into the scope), or the refusal to send:
    every error answered, as LeanRoute answers its own (no layer outside it does)."""
    try:
        scope[CALLER_SCOPE_KEY] = await caller_in(state, scope)
    except WixAppError as error:
        return error_answer(error)
    except Exception as error:
        return unexpected_answer(error)
    return None


class _LeanFirst:
    """The app's middleware stack, with the lean GETs answered by EdgeMiddleware first (see
    ``_Backend`` in :mod:`wixapp.server.factory`). A path with a trailing slash, or any
    other request, takes the whole stack."""

    def __init__(self, edge: EdgeMiddleware, stack: ASGIApp) -> None:
        self.edge = edge
        self.app = stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in self.edge.lean:
            await self.edge(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _request_headers(scope: Scope) -> tuple[bytes | None, bool, int]:
    """In one pass over the request's headers: its Origin (the first), whether it asks a
    preflight's Access-Control-Request-Method, and its declared Content-Length (0 if none
    or unreadable)."""
    origin: bytes | None = None
    preflight = False
    declared: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"origin":
            if origin is None:
                origin = value
        elif name == b"access-control-request-method":
            preflight = True
        elif name == b"content-length" and declared is None:
            declared = value
    if declared is None:
        return origin, preflight, 0
    try:
        return origin, preflight, int(declared)
    except ValueError:
        return origin, preflight, 0


def _percent_encoded(query: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte if byte > 0x7F else bytes((byte,)) for byte in query)


async def _one_line_startup_error(message: Message, send: Send) -> None:
    """A configuration problem found at start-up is one line naming the variable, not the
    traceback uvicorn would log for a failed lifespan."""
    error = sys.exc_info()[1]  # Starlette sends the failure while handling it
    if message["type"] == "lifespan.startup.failed" and isinstance(error, ConfigurationError):
        message = {**message, "message": f"wixapp: {error.detail}"}
    await send(message)


async def _unreachable(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("EdgeMiddleware applies the CORS rules itself, never as an app")
