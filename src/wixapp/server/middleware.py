"""EdgeMiddleware: the backend's one middleware layer, pure ASGI.

Everything every HTTP request needs, in the order it runs:

1. the security headers (:mod:`wixapp.server.headers`: nosniff on every answer, the pages'
   policy on HTML, a trailing slash dropped before routing; the lean answers write their
   headers themselves, the rest pass through one wrapped ``send``);
2. CORS (:class:`~wixapp.web.cors.RouteCORSMiddleware`'s rules, Starlette's code:
   preflights answered here, the response headers added to every answer);
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

One layer instead of six: each layer costs a coroutine and a wrapped ``send`` per request,
which on the hot path was a measurable share of the time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.cache.shared import OneRequest
from wixapp.config import Settings
from wixapp.errors import PayloadTooLargeError, WixAppError
from wixapp.metrics import Metrics
from wixapp.server.headers import NOSNIFF, SecurityHeaders
from wixapp.server.lean import CALLER_SCOPE_KEY, LeanRoute, caller_in
from wixapp.server.state import ServerState
from wixapp.web import error_answer
from wixapp.web.cors import RouteCORSMiddleware

__all__ = ["EdgeMiddleware"]


class _TooLarge(Exception):
    pass


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with OneRequest():  # the request's calls to Redis share one time budget
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = self._security.routed(scope)
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if origin is not None and preflight:
            answer = self._cors.preflight_response(request_headers=headers)
            await answer(scope, receive, self._security.wrap(send))
            return
        query = scope.get("query_string", b"")
        if query and not query.isascii():
            scope = {**scope, "query_string": _percent_encoded(query)}
        started = time.perf_counter()
        lean = self.lean.get(scope["path"]) if scope["method"] == "GET" else None
        # A lean answer writes the security headers itself; any other passes through them.
        send = functools.partial(
            self._cors.send,
            send=send if lean is not None else self._security.wrap(send),
            request_headers=headers,
        )
        if lean is None and _declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)  # no identification for a body refused
            return
        state: ServerState = scope["app"].state.wixapp
        if state.edge.guarding and state.edge.guards(scope["method"], scope["path"]):
            try:
                scope[CALLER_SCOPE_KEY] = await caller_in(state, scope)
            except WixAppError as error:
                refusal = error_answer(error)
                if lean is not None:
                    refusal.raw_headers.append(NOSNIFF)
                await refusal(scope, receive, send)
                # Refused before routing: no route template to count it under.
                where = lean.path if lean is not None else "guarded"
                self.metrics.request_done(where, refusal.status_code, time.perf_counter() - started)
                return
        if lean is not None:
            status = await lean(state, scope, receive, send)
            self.metrics.request_done(lean.path, status, time.perf_counter() - started)
            return
        await self._forward(scope, receive, send, started)

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


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _percent_encoded(query: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte if byte > 0x7F else bytes((byte,)) for byte in query)


async def _unreachable(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("EdgeMiddleware applies the CORS rules itself, never as an app")
