"""Cache: a per-process memory tier in front of an optional shared tier, with single-flight.

Reads go memory → shared (Redis) → the upstream ``fetch``:

- A memory hit never does I/O. With a shared tier, a memory entry is trusted for
  ``local_ttl`` seconds after it was last confirmed there (so an invalidation whose
  broadcast was missed is seen soon anyway); without one, or while the shared tier is down,
  it is trusted until its own expiry, exactly as the memory-only mode.
- Concurrent misses for one key share one call per process (:class:`SingleFlight`) and, with
  a shared tier, one call across all processes: the first takes the key's lock and fetches,
  the others poll for its result; if the holder dies its lock expires and a waiter takes
  over; if it fails with an outage (429, 5xx) its waiters share that failure.
- Every value carries its absolute expiry, and no tier keeps it longer.
- A shared tier that fails is skipped, never an error: the request is served from memory and
  from Wix, as if there were no shared tier.
- With ``refresh_due``, a value entering the last part of its life (see
  :data:`REFRESH_AHEAD`) is served at once and refreshed in the background: one refresh per
  key in this process, and with a shared tier one across all of them (the key's lock: a
  process that cannot take it leaves the refresh to the holder). A failed refresh keeps the
  copy and is not tried again for a moment; callers wait only when no usable copy is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from wixapp.cache.memory import SingleFlight, TTLCache
from wixapp.cache.shared import Lock, SharedBackend, SharedCacheUnavailable
from wixapp.errors import RateLimitedError, UpstreamUnavailableError
from wixapp.logs import LogLimiter

__all__ = ["Cache", "Codec", "Fetch", "done"]

V = TypeVar("V")
V_co = TypeVar("V_co")

Fetch = Callable[[], Awaitable[tuple[V, float]]]
"""The upstream call of a miss: the value and the instant (clock time) it expires."""

LookupObserver = Callable[[str], None]
"""Told where a memory miss was answered: "hit" (shared tier), "lead" (this process asked
upstream for everyone), "wait" (another process was asked), "bypass" (the shared tier was
unavailable, so this process asked upstream on its own)."""

logger = logging.getLogger("wixapp.cache")

_EXPIRY = struct.Struct(">d")
_unreadable = LogLimiter(interval=None)
_FAILURE_TTL = 2.0

REFRESH_AHEAD = 0.25
"""Share of a cached value's life, at its end, in which a read refreshes it in the background."""

RefreshDue = Callable[[V, float], bool]
"""``(value, expires_at)`` → whether a read should refresh it in the background now."""


class Codec(Protocol[V]):
    """Bytes for the shared tier. ``tag`` names a value for compare-and-delete ("" if unused)."""

    def encode(self, key: str, value: V) -> bytes: ...

    def decode(self, key: str, data: bytes) -> V: ...

    def tag(self, value: V) -> str: ...


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V_co]):
    value: V_co
    expires_at: float
    checked_at: float


class _Done:
    """An awaitable that is already done (needs no event loop)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


done: Awaitable[None] = _Done()


class Cache(Generic[V]):
    """One namespace of cached values (token verdicts, app tokens, instance data)."""

    def __init__(
        self,
        *,
        namespace: str,
        codec: Codec[V],
        max_size: int,
        shared: SharedBackend | None = None,
        fresh: Callable[[V], bool] | None = None,
        local_ttl: float = 5.0,
        max_wait: float = 10.0,
        clock: Callable[[], float] = time.time,
        observer: LookupObserver | None = None,
        refresh_due: RefreshDue[V] | None = None,
    ) -> None:
        self.namespace = namespace
        self._refresh_due = refresh_due
        self._refreshing: dict[str, asyncio.Task[None] | None] = {}  # None: resting after failure
        self._codec = codec
        self._shared = shared
        self._fresh = fresh
        self._local_ttl = local_ttl
        self._max_wait = max_wait
        self._clock = clock
        self._observer = observer
        self._memory: TTLCache[str, _Entry[V]] = TTLCache(max_size=max_size, clock=clock)
        self._flights: SingleFlight[str, V] = SingleFlight()
        self._generation = 0  # bumped by every invalidation: in-flight results are not kept
        self._verified_after = float("-inf")  # memory entries checked before: check again
        self._invalidating: dict[str, asyncio.Future[None]] = {}
        if shared is not None:
            shared.on_invalidate(namespace, self._invalidated_elsewhere)
            shared.on_resync(self._resync)

    def __len__(self) -> int:
        return len(self._memory)

    # -- reads ----------------------------------------------------------------------------

    def peek(self, key: str) -> V | None:
        """The memory tier's fresh value, without any I/O; None means "go through load"."""
        entry = self._peek_entry(key)
        return None if entry is None else entry.value

    def _peek_entry(self, key: str) -> _Entry[V] | None:
        entry = self._memory.get(key)
        if entry is None or not self._is_fresh(entry.value) or self._needs_check(entry):
            return None
        return entry

    async def load(self, key: str, fetch: Fetch[V]) -> V:
        """The fresh value, from memory, the shared tier, or ``fetch`` (once for everyone);
        near its end a value is refreshed in the background (``refresh_due``)."""
        entry = self._peek_entry(key)
        if entry is not None:
            if self._refresh_due is not None and self._refresh_due(entry.value, entry.expires_at):
                self._refresh_in_background(key, fetch)
            return entry.value
        generation = self._generation  # as of now: an invalidation from here on wins
        return await self._flights.run(key, lambda: self._load(key, fetch, generation))

    async def settled(self) -> None:
        """Wait for the background refreshes under way (tests, shutdown)."""
        running = [task for task in self._refreshing.values() if task is not None]
        await asyncio.gather(*running, return_exceptions=True)

    def close(self) -> None:
        """Cancel the background refreshes under way."""
        for task in self._refreshing.values():
            if task is not None:
                task.cancel()

    async def fallback(self, key: str) -> V | None:
        """Any unexpired value, fresh or not: what to serve when upstream is down."""
        entry = self._memory.get(key)
        if entry is not None:
            return entry.value
        if self._shared is None or not self._shared.available:
            return None
        try:
            data = await self._shared.get(self.namespace, key)
        except SharedCacheUnavailable:
            return None
        found = self._decode(key, data)
        return None if found is None else found[0]

    # -- invalidation ---------------------------------------------------------------------

    async def drop(self, key: str, *, only: V | None = None) -> None:
        """Forget the key here and in the shared tier; only if it still holds ``only``."""
        entry = self._memory.get(key)
        tag = None if only is None else self._codec.tag(only)
        if entry is None or tag is None or self._codec.tag(entry.value) == tag:
            self._memory.pop(key)
        self._generation += 1
        if self._shared is not None:
            with contextlib.suppress(SharedCacheUnavailable):
                await self._shared.delete(self.namespace, key, tag=tag)

    def forget(self, key: str) -> Awaitable[None]:
        """Forget the key in every process: here at once, elsewhere in the background.

        Await the result to wait until the shared tier has deleted it and every process has
        been told (it never raises; when the shared tier is down the invalidation is kept
        and sent once it is back).
        """
        self._drop_local(key)
        if self._shared is None:
            return done
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._shared.defer_invalidation(self.namespace, [key])
            return done
        sending = self._shared.spawn(self._shared.invalidate(self.namespace, [key]))
        self._invalidating[key] = sending  # reads of the key here wait for it (see _load)
        sending.add_done_callback(lambda _: self._invalidated(key, sending))
        return sending

    def clear(self) -> None:
        """Empty this process's memory tier."""
        self._memory.clear()
        self._generation += 1

    # -- refresh ahead --------------------------------------------------------------------

    def _refresh_in_background(self, key: str, fetch: Fetch[V]) -> None:
        if key in self._refreshing:
            return
        generation = self._generation
        task = asyncio.get_running_loop().create_task(self._refresh(key, fetch, generation))
        self._refreshing[key] = task
        task.add_done_callback(lambda _: self._refreshed(key, task))

    def _refreshed(self, key: str, task: asyncio.Task[None]) -> None:
        if self._refreshing.get(key) is not task:
            return
        if task.cancelled() or task.exception() is None:
            del self._refreshing[key]
            return
        # Failed (Wix down, say): the copy stays; the next try waits a moment, so a busy key
        # does not turn every read into a call to a failing upstream.
        self._refreshing[key] = None
        asyncio.get_running_loop().call_later(_FAILURE_TTL, self._refreshing.pop, key, None)

    async def _refresh(self, key: str, fetch: Fetch[V], generation: int) -> None:
        try:
            if self._shared is not None and self._shared.available:
                with contextlib.suppress(SharedCacheUnavailable):
                    await self._refresh_shared(self._shared, key, fetch, generation)
                    return
            value, expires_at = await fetch()
            self._remember(key, value, expires_at, generation)
        except Exception as error:
            logger.info("refreshing a %s entry failed (%s)", self.namespace, type(error).__name__)
            raise

    async def _refresh_shared(
        self, shared: SharedBackend, key: str, fetch: Fetch[V], generation: int
    ) -> None:
        """Refresh under the key's lock; without it another process is already at it."""
        lock = await shared.acquire(self.namespace, key)
        if lock is None:
            return
        try:
            found = self._decode(key, await shared.get(self.namespace, key))
            if found is not None and not self._due(found):  # another process refreshed it
                await _quietly(shared.release(lock))
                self._remember(key, found[0], found[1], generation)
                return
            async with shared.hold(lock):
                value, expires_at = await fetch()
        except BaseException:
            await _quietly(shared.release(lock))
            raise
        await self._store(shared, lock, key, value, expires_at, generation)

    def _due(self, found: tuple[V, float]) -> bool:
        assert self._refresh_due is not None
        return not self._is_fresh(found[0]) or self._refresh_due(*found)

    # -- the miss path --------------------------------------------------------------------

    async def _load(self, key: str, fetch: Fetch[V], generation: int) -> V:
        sending = self._invalidating.get(key)
        if sending is not None:  # do not read back what this process is deleting
            await asyncio.shield(sending)
        if self._shared is not None:
            try:
                return await self._load_shared(self._shared, key, fetch, generation)
            except SharedCacheUnavailable:
                pass
            known = self._known(key)
            if known is not None:  # degraded: memory is trusted until the entry expires
                return known
            self._observe("bypass")
        value, expires_at = await fetch()
        self._remember(key, value, expires_at, generation)
        return value

    async def _load_shared(
        self, shared: SharedBackend, key: str, fetch: Fetch[V], generation: int
    ) -> V:
        """Raises SharedCacheUnavailable only before ``fetch`` ran (so it never runs twice)."""
        deadline = asyncio.get_running_loop().time() + self._max_wait
        while True:
            found = self._usable_found(key, await shared.get(self.namespace, key), generation)
            if found is not None:
                self._observe("hit")
                if self._refresh_due is not None and self._refresh_due(*found):
                    self._refresh_in_background(key, fetch)
                return found[0]
            lock = await shared.acquire(self.namespace, key)
            if lock is not None:
                return await self._lead(shared, lock, key, fetch, generation)
            value = await self._follow(shared, key, deadline, generation)
            if value is not None:
                return value
            if asyncio.get_running_loop().time() >= deadline:
                raise SharedCacheUnavailable("another process held the flight for too long")

    async def _lead(
        self, shared: SharedBackend, lock: Lock, key: str, fetch: Fetch[V], generation: int
    ) -> V:
        try:
            landed = self._usable(key, await shared.get(self.namespace, key), generation)
        except SharedCacheUnavailable:
            await _quietly(shared.release(lock))
            raise
        if landed is not None:  # the previous holder finished between our two looks
            await _quietly(shared.release(lock))
            self._observe("hit")
            return landed
        self._observe("lead")
        try:
            async with shared.hold(lock):
                value, expires_at = await fetch()
        except (RateLimitedError, UpstreamUnavailableError) as outage:
            await _quietly(shared.fail(lock, _encode_failure(outage), ttl=_FAILURE_TTL))
            raise
        except BaseException:
            await _quietly(shared.release(lock))
            raise
        await self._store(shared, lock, key, value, expires_at, generation)
        return value

    async def _store(
        self,
        shared: SharedBackend,
        lock: Lock,
        key: str,
        value: V,
        expires_at: float,
        generation: int,
    ) -> None:
        ttl = expires_at - self._clock()
        if ttl <= 0:
            await _quietly(shared.release(lock))
            return
        envelope = _EXPIRY.pack(expires_at) + self._codec.encode(key, value)
        try:
            kept = await shared.put(
                self.namespace, key, envelope, ttl=ttl, lock=lock, tag=self._codec.tag(value)
            )
        except SharedCacheUnavailable:
            kept = True  # the shared tier just went away: keep it here, as memory-only would
        if kept:  # not kept: the key was invalidated while we fetched, so this is old news
            self._remember(key, value, expires_at, generation)

    async def _follow(
        self, shared: SharedBackend, key: str, deadline: float, generation: int
    ) -> V | None:
        """Wait for another process's fetch; None when its lock went away without a value."""
        self._observe("wait")
        loop = asyncio.get_running_loop()
        delay = 0.005
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            try:
                flight = await shared.poll(self.namespace, key)
            except SharedCacheUnavailable:
                if shared.available:  # a late answer, not an outage: keep waiting
                    continue
                raise
            value = self._usable(key, flight.value, generation)
            if value is not None:
                return value
            if not flight.locked:
                if flight.failure is not None:
                    raise _decode_failure(flight.failure)
                return None
        return None

    # -- the memory tier ------------------------------------------------------------------

    def _needs_check(self, entry: _Entry[V]) -> bool:
        if self._shared is None or not self._shared.available:
            return False
        if entry.checked_at < self._verified_after:
            return True
        return self._clock() - entry.checked_at >= self._local_ttl

    def _known(self, key: str) -> V | None:
        entry = self._memory.get(key)
        if entry is None or not self._is_fresh(entry.value):
            return None
        return entry.value

    def _is_fresh(self, value: V) -> bool:
        return self._fresh is None or self._fresh(value)

    def _remember(self, key: str, value: V, expires_at: float, generation: int) -> None:
        if generation == self._generation:
            self._memory.set(key, _Entry(value, expires_at, self._clock()), expires_at=expires_at)

    def _usable(self, key: str, data: bytes | None, generation: int) -> V | None:
        """A fresh value read from the shared tier (and now remembered), or None."""
        found = self._usable_found(key, data, generation)
        return None if found is None else found[0]

    def _usable_found(
        self, key: str, data: bytes | None, generation: int
    ) -> tuple[V, float] | None:
        """:meth:`_usable`, with the value's expiry."""
        found = self._decode(key, data)
        if found is None or not self._is_fresh(found[0]):
            return None
        self._remember(key, found[0], found[1], generation)
        return found

    def _decode(self, key: str, data: bytes | None) -> tuple[V, float] | None:
        if data is None or len(data) < _EXPIRY.size:
            return None
        (expires_at,) = _EXPIRY.unpack_from(data)
        if expires_at <= self._clock():
            return None
        try:
            return self._codec.decode(key, data[_EXPIRY.size :]), expires_at
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            # Unreadable (another version of wixapp, say): a miss, never an error.
            if _unreadable.allow(self.namespace) is not None:
                logger.warning(
                    "ignoring an unreadable %s entry of the shared cache (%s); further ones "
                    "are ignored silently",
                    self.namespace,
                    type(error).__name__,
                )
            return None

    def _invalidated(self, key: str, sending: asyncio.Future[None]) -> None:
        if self._invalidating.get(key) is sending:
            del self._invalidating[key]

    def _drop_local(self, key: str) -> None:
        """Forget the key in this process; a flight under way is neither kept nor joined."""
        self._memory.pop(key)
        self._flights.discard(key)
        self._generation += 1

    def _invalidated_elsewhere(self, key: str) -> None:
        self._drop_local(key)

    def _resync(self) -> None:
        """Invalidations may have been missed (the shared tier was away): check all again."""
        self._verified_after = self._clock()

    def _observe(self, result: str) -> None:
        if self._observer is not None:
            self._observer(result)


async def _quietly(call: Awaitable[None]) -> None:
    with contextlib.suppress(SharedCacheUnavailable):
        await call


def _encode_failure(error: RateLimitedError | UpstreamUnavailableError) -> bytes:
    kind = "rate_limited" if isinstance(error, RateLimitedError) else "unavailable"
    body = {
        "kind": kind,
        "detail": error.detail,
        "code": error.code,
        "retryAfter": error.retry_after,
        "wixStatus": error.wix_status,
    }
    return json.dumps(body).encode()


def _decode_failure(data: bytes) -> RateLimitedError | UpstreamUnavailableError:
    try:
        body = json.loads(data)
        kind = RateLimitedError if body["kind"] == "rate_limited" else UpstreamUnavailableError
        return kind(
            str(body["detail"]),
            code=str(body["code"]),
            retry_after=body.get("retryAfter"),
            wix_status=body.get("wixStatus"),
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return UpstreamUnavailableError()
