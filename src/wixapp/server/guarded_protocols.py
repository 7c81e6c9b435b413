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

Deadlines bound time, not bytes: a request line and headers are also measured, before the
parser sees them, and a request whose head exceeds ``WIXAPP_MAX_HEADER_BYTES`` or has more
than ``WIXAPP_MAX_HEADERS`` header lines is answered 431 and its connection closed. So a
connection holds at most the limit plus one read of the socket, whatever it sends.
"""

from __future__ import annotations

import asyncio
import json
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


class _HeadMeter:
    """Counts a request's head (line and headers) as it arrives, up to its blank line."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        """A new request's head is owed."""
        self._bytes = self._lines = 0
        self._tail = b""
        self._reading = True

    def within_limits(self, data: bytes) -> bool:
        if not self._reading:
            return True
        window = self._tail + data
        ends = [at + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (at := window.find(mark)) >= 0]
        head = data[: max(0, min(ends) - len(self._tail))] if ends else data
        self._bytes += len(head)
        self._lines += head.count(b"\n")
        self._tail = window[-3:]
        self._reading = not ends
        limits = _settings()
        # Lines: the request line, the headers, the blank line.
        return self._bytes <= limits.max_header_bytes and self._lines <= limits.max_headers + 2


_TOO_LARGE_BODY = json.dumps(
    {
        "error": "request_headers_too_large",
        "detail": "The request line and headers are too large, or there are too many headers.",
    }
).encode()
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


def _refuse_too_large(transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        transport.write(_TOO_LARGE)
        transport.close()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header and body deadlines and head limits."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = _Deadline(self.loop, self._too_slow)
        self._deadline.follow("headers")
        self._head = _HeadMeter()

    def data_received(self, data: bytes) -> None:
        if self._head.within_limits(data):
            super().data_received(data)
        else:
            self._deadline.cancel()
            _refuse_too_large(self.transport)

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
        self._head.start()

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


class GuardedH11Protocol(NoDelayH11Protocol):
    """uvicorn's h11 protocol (with TCP_NODELAY) with the header and body deadlines and
    head limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # h11's own cap (16 KiB by default) would answer a head within our limit 400.
        room = _settings().max_header_bytes + 1
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=room)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = _Deadline(self.loop, self._too_slow)
        self._deadline.follow(self._waiting_for())
        self._head = _HeadMeter()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._head.within_limits(data):
            self._deadline.cancel()
            _refuse_too_large(self.transport)
            return
        super().data_received(data)
        self._deadline.follow(self._waiting_for())

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.follow(self._waiting_for())
        self._head.start()

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
