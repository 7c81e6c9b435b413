"""The shared tier: what a cache shared by many processes must offer, and its circuit breaker.

:class:`wixapp.cache.layered.Cache` puts a per-process memory tier in front of a
:class:`SharedBackend`; identity and elevation only ever see the ``Cache``. The one
implementation is :class:`wixapp.cache.redis.RedisBackend`; the protocol keeps the layering
testable and a second backend possible.

Every backend method may raise :class:`SharedCacheUnavailable`. That is never an error for a
request: the caller falls back to its memory tier and to Wix itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from contextvars import Context, ContextVar, Token, copy_context
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Flight",
    "Lock",
    "OneRequest",
    "SharedBackend",
    "SharedCacheUnavailable",
    "SharedWait",
    "one_request_context",
    "outside_request",
    "request_wait",
]


class SharedWait:
    """The seconds one request has waited on the shared tier so far, and whether one of its
    calls was cut at the budget (then Redis is slow for it: it asks no more)."""

    __slots__ = ("cut", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cut = False


_request_wait: ContextVar[SharedWait | None] = ContextVar("wixapp_shared_wait", default=None)


class OneRequest:
    """``with OneRequest():`` around one request (every front door does it): the shared
    tier's calls inside share one time budget, so a slow Redis costs a request a bounded
    wait. Work outside any request (background tasks) is bounded by each call's timeout."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token: Token[SharedWait | None] = _request_wait.set(SharedWait())

    def __exit__(self, *exc_info: object) -> None:
        _request_wait.reset(self._token)


def request_wait() -> SharedWait | None:
    """The current request's wait on the shared tier (None outside a request)."""
    return _request_wait.get()


def one_request_context() -> Context:
    """A copy of the current context that is one request of its own (a task per request)."""
    context = copy_context()
    context.run(_request_wait.set, SharedWait())
    return context


def outside_request() -> Context:
    """A copy of the current context outside any request: for a task a request starts but
    does not wait for."""
    context = copy_context()
    context.run(_request_wait.set, None)
    return context


class SharedCacheUnavailable(Exception):
    """The shared tier cannot be used right now (down, timing out, or its circuit is open)."""


@dataclass(frozen=True, slots=True)
class Lock:
    """A held flight lock: ``token`` proves ownership to compare-and-delete."""

    namespace: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class Flight:
    """One look at a key while another process fetches it."""

    value: bytes | None
    locked: bool
    failure: bytes | None = None


InvalidationHook = Callable[[str], None]
"""Told the key of an entry another process invalidated, to drop it from memory."""


class SharedBackend(Protocol):
    """A cache shared by every process of the app, with locks for distributed single-flight.

    Keys are (namespace, key) pairs; values are opaque bytes, each stored with a ``tag`` (a
    short hex string) that :meth:`delete` can require, so "drop this token, unless another
    process replaced it already" is one atomic step.
    """

    @property
    def available(self) -> bool:
        """Whether calls may be attempted now (no I/O: the circuit's state)."""
        ...

    async def get(self, namespace: str, key: str) -> bytes | None: ...

    async def acquire(self, namespace: str, key: str) -> Lock | None:
        """The flight lock of the key, or None when another process holds it."""
        ...

    def hold(self, lock: Lock) -> AbstractAsyncContextManager[None]:
        """Keep the lock alive while the block runs (the holder may take a while)."""
        ...

    async def release(self, lock: Lock) -> None: ...

    async def put(
        self, namespace: str, key: str, value: bytes, *, ttl: float, lock: Lock, tag: str = ""
    ) -> bool:
        """Store the value and release the lock, only if the lock is still ours (fencing)."""
        ...

    async def fail(self, lock: Lock, failure: bytes, *, ttl: float) -> None:
        """Release the lock leaving a short-lived failure for the waiters to share."""
        ...

    async def poll(self, namespace: str, key: str) -> Flight: ...

    async def delete(self, namespace: str, key: str, *, tag: str | None = None) -> None:
        """Delete the value (only if stored with ``tag``, when given)."""
        ...

    async def invalidate(self, namespace: str, keys: list[str]) -> None:
        """Delete the keys (values, locks) and tell every process to drop them from memory."""
        ...

    def defer_invalidation(self, namespace: str, keys: list[str]) -> None:
        """Remember an invalidation that could not be sent; it is sent when possible."""
        ...

    def on_invalidate(self, namespace: str, hook: InvalidationHook) -> None: ...

    def on_resync(self, hook: Callable[[], None]) -> None:
        """``hook()`` after an outage, when invalidations may have been missed."""
        ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """Run ``work`` in the background, owned (and awaited at close) by the backend."""
        ...
