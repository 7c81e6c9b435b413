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
import time
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Circuit",
    "Flight",
    "Lock",
    "SharedBackend",
    "SharedCacheUnavailable",
]


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


StateHook = Callable[[bool, str | None], None]
"""Told ``(up, reason)`` on every transition of a circuit."""


class Circuit:
    """Up, or down with a probe allowed once per backoff interval (half-open).

    It opens after ``threshold`` consecutive failures spread over ``grace`` seconds, or at
    once on certain evidence (the connection to the server was lost).

    The backoff doubles on each failed probe up to ``max_backoff``, and resets when a call
    succeeds. Only transitions are reported, so a dead dependency logs once, not per request.
    """

    def __init__(
        self,
        *,
        threshold: int = 3,
        grace: float = 1.0,
        min_backoff: float = 0.5,
        max_backoff: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: StateHook | None = None,
    ) -> None:
        self._threshold = threshold
        self._grace = grace
        self._failures = 0
        self._last_success = clock()
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._on_change = on_change
        self.up = True
        self.reason: str | None = None
        self.backoff = min_backoff
        self._retry_at = 0.0

    @property
    def due(self) -> bool:
        """Down, and a probe may be tried now."""
        return not self.up and self._clock() >= self._retry_at

    def allow(self) -> bool:
        """Whether to try a call: always when up; when down, once per backoff interval."""
        if self.up:
            return True
        now = self._clock()
        if now < self._retry_at:
            return False
        self._retry_at = now + self.backoff
        return True

    def failure(self, reason: str, *, certain: bool = False) -> None:
        """A failed call. The circuit opens after ``threshold`` failures in a row with no
        success for ``grace`` seconds (a burst of slow answers from an overloaded host is
        no outage), or at once when ``certain``."""
        self._failures += 1
        if self.up and not certain and not self._persistent():
            return
        if self.up:
            self.up = False
            self.backoff = self._min_backoff
            self.reason = reason
            self._retry_at = self._clock() + self.backoff
            self._notify()
            return
        self.reason = reason
        self.backoff = min(self._max_backoff, self.backoff * 2)
        self._retry_at = self._clock() + self.backoff

    def success(self) -> None:
        self._failures = 0
        self._last_success = self._clock()
        if not self.up:
            self.up = True
            self.reason = None
            self.backoff = self._min_backoff
            self._notify()

    def _persistent(self) -> bool:
        quiet = self._clock() - self._last_success
        return self._failures >= self._threshold and quiet >= self._grace

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(self.up, self.reason)
