"""Per-instance values from the app's own store, cached in every process.

``InstanceCache`` serves a value by instance ID from this process's memory, then the shared
tier (Redis, when configured), then ``load`` (your database query), at most one ``load`` per
instance at a time across all processes. Writes go to the database first (keep them exact,
e.g. a compare-and-swap on a version), then call :meth:`InstanceCache.invalidate`:

- this process drops its copy at once, and its next read waits for the invalidation to
  finish and loads the new value: **the writer reads its write**;
- with a shared tier, the invalidation deletes the Redis copy and is broadcast to every
  process (pub/sub) before ``await invalidate(...)`` returns; the others drop their copy
  when the message arrives (about a millisecond on one host). Should a broadcast be missed,
  a memory copy is checked against Redis again after ``local_ttl`` seconds, and after a
  Redis outage every copy is;
- without a shared tier, other processes keep their copy until it is ``ttl`` seconds old.

A copy read in the last quarter of its ``ttl`` is served and reloaded in the background
(one ``load`` per instance across all processes), so steady readers never wait for ``load``.

A value loaded while an invalidation runs is never kept (the shared tier's lock fencing
and the cache's generation counter see to that), so a reader cannot put an old value back.
``None`` is a value like any other (a row that does not exist is cached too).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from wixapp.cache.layered import REFRESH_AHEAD, Cache, Codec, LookupObserver
from wixapp.cache.shared import SharedBackend

__all__ = ["InstanceCache"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Held(Generic[V]):
    """A cached value; the wrapper lets ``None`` be cached (the layered cache reads None
    as a miss)."""

    value: V


class _HeldCodec(Generic[V]):
    def __init__(self, codec: Codec[V]) -> None:
        self._codec = codec

    def encode(self, key: str, value: _Held[V]) -> bytes:
        return self._codec.encode(key, value.value)

    def decode(self, key: str, data: bytes) -> _Held[V]:
        return _Held(self._codec.decode(key, data))

    def tag(self, value: _Held[V]) -> str:
        return ""


class InstanceCache(Generic[V]):
    """``await cache.get(instance_id)`` → the value; ``await cache.invalidate(instance_id)``
    after each write. Build one with :meth:`wixapp.WixApp.instance_cache`, which gives it
    the app's shared tier and drops it with the instance's other caches (app removed)."""

    def __init__(
        self,
        *,
        namespace: str,
        load: Callable[[str], Awaitable[V]],
        codec: Codec[V],
        ttl: float,
        max_size: int = 100_000,
        shared: SharedBackend | None = None,
        local_ttl: float = 5.0,
        clock: Callable[[], float] = time.time,
        observer: LookupObserver | None = None,
    ) -> None:
        self.namespace = namespace
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._cache: Cache[_Held[V]] = Cache(
            namespace=f"ic:{namespace}",
            codec=_HeldCodec(codec),
            max_size=max_size,
            shared=shared,
            local_ttl=local_ttl,
            clock=clock,
            observer=observer,
            refresh_due=self._due,
        )

    async def get(self, instance_id: str) -> V:
        """The instance's value: from memory (no I/O), the shared tier, or ``load``."""
        if self._ttl <= 0:
            return await self._load(instance_id)
        held = await self._cache.load(instance_id, lambda: self._fetch(instance_id))
        return held.value

    def invalidate(self, instance_id: str) -> Awaitable[None]:
        """Drop the instance's value here at once and, with a shared tier, in Redis and every
        process; await it to wait for that (it never raises: while Redis is down the
        invalidation waits for it)."""
        return self._cache.forget(instance_id)

    def clear(self) -> None:
        """Empty this process's memory copy."""
        self._cache.clear()

    async def settled(self) -> None:
        """Wait for the background refreshes under way (tests)."""
        await self._cache.settled()

    def close(self) -> None:
        """Cancel the background refreshes under way (shutdown)."""
        self._cache.close()

    def _due(self, _held: _Held[V], expires_at: float) -> bool:
        return expires_at - self._clock() <= REFRESH_AHEAD * self._ttl

    async def _fetch(self, instance_id: str) -> tuple[_Held[V], float]:
        return _Held(await self._load(instance_id)), self._clock() + self._ttl
