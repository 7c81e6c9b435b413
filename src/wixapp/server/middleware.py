"""Plain ASGI middleware: query-string hygiene, request body limits and request timing."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.errors import PayloadTooLargeError
from wixapp.metrics import Metrics
from wixapp.server.responses import response_for

__all__ = ["BodyLimitMiddleware", "QueryStringMiddleware", "TimingMiddleware"]


class QueryStringMiddleware:
    """Percent-encode the raw non-ASCII bytes of a query string (as a browser would).

    Some ASGI servers pass them through, and parts of Starlette decode the query string as
    strict UTF-8 (the trailing-slash redirect, ``request.url``): a stray byte was a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if query and not query.isascii():
            scope = {**scope, "query_string": _percent_encoded(query)}
        await self.app(scope, receive, send)


def _percent_encoded(query: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte if byte > 0x7F else bytes((byte,)) for byte in query)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by header or by counting.

    Starlette's own ``RequestBodyLimitMiddleware`` answers in plain text; this one answers
    with wixapp's JSON error, as every other refusal does."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await response_for(PayloadTooLargeError(self.max_bytes))(scope, receive, send)


class TimingMiddleware:
    """Observe each HTTP request's latency by route template and status class."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.request_seconds.labels(path, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
