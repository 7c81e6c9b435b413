"""Connection limits for ``wixapp serve``: slow senders are cut off, connections are capped.

uvicorn closes idle keep-alive connections, but not a client that opens a connection and
then sends its headers, or its body, a byte at a time: each such connection is held for as
long as the client likes, and a few hundred of them exhaust a worker. Both protocols of the
server stack (:mod:`wixapp.server.stack`) get two deadlines: ``WIXAPP_HEADER_TIMEOUT`` for a
request's line and headers (from the connection, or from the first byte of a later request
on it) and ``WIXAPP_BODY_TIMEOUT`` for its body (from the end of the headers). Each runs
from the start of its phase however the bytes trickle in; past it the connection is
closed. The connection cap is uvicorn's ``limit_concurrency`` (``WIXAPP_MAX_CONNECTIONS``):
beyond it a request is answered 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from wixapp.config import ServeSettings
from wixapp.server.stack import NoDelayH11Protocol

__all__ = ["GuardedH11Protocol", "GuardedHttpToolsProtocol"]

_limits: list[ServeSettings] = []  # read from the environment once per worker


def _settings() -> ServeSettings:
    if not _limits:
        _limits.append(ServeSettings())
    return _limits[0]


class _Deadline:
    """One timer per connection, re-armed only when the phase changes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, close: Any) -> None:
        self._loop = loop
        self._close = close
        self._phase: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    def follow(self, phase: str | None) -> None:
        if phase == self._phase:
            return
        self._phase = phase
        self.cancel()
        if phase is not None:
            limits = _settings()
            seconds = limits.header_timeout if phase == "headers" else limits.body_timeout
            self._timer = self._loop.call_later(seconds, self._expired)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self._close()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header and body deadlines."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = _Deadline(self.loop, self._too_slow)
        self._deadline.follow("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._deadline.follow("headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._deadline.follow("body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._deadline.follow(None)

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


class GuardedH11Protocol(NoDelayH11Protocol):
    """uvicorn's h11 protocol (with TCP_NODELAY) with the header and body deadlines."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = _Deadline(self.loop, self._too_slow)
        self._deadline.follow(self._waiting_for())

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._deadline.follow(self._waiting_for())

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.follow(self._waiting_for())

    def _waiting_for(self) -> str | None:
        if self.transport.is_closing():
            return None
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return "body"
        if state is h11.IDLE and (self.cycle is None or self.conn.trailing_data[0]):
            return "headers"  # the first request is owed, or a later one has begun
        return None

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
