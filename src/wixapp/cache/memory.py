"""In-process building blocks: a bounded TTL+LRU cache and single-flight coalescing."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight", "TTLCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Clock = Callable[[], float]


class TTLCache(Generic[K, V]):
    """A dict whose entries expire at their own deadline and whose size is bounded (LRU).

    Expiry is checked on read, so the cost is O(1) per operation and nothing runs in the
    background; the LRU bound keeps memory flat even under a flood of distinct keys.
    """

    def __init__(self, *, max_size: int, clock: Clock = time.time) -> None:
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._max_size = max_size
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: K, value: V, *, expires_at: float) -> None:
        now = self._clock()
        if expires_at <= now:
            self._entries.pop(key, None)
            return
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)
        self._drop_expired_lru(now)

    def _drop_expired_lru(self, now: float) -> None:
        """Drop expired entries from the least recently used end, stopping at a live one.

        Amortised O(1) (each entry goes once). A stream of new keys that are never read
        again (one-off tokens) then holds what is live, not ``max_size`` dead entries.
        """
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if oldest[0] > now:
                return
            entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[1]

    def clear(self) -> None:
        self._entries.clear()


class SingleFlight(Generic[K, V]):
    """Coalesce concurrent calls for one key into a single execution.

    The work runs in its own task, so a caller that is cancelled (a client hanging up) does
    not cancel it for the others who wait on the same key.
    """

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, key: K) -> bool:
        return key in self._flights

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._flights[key] = task
            task.add_done_callback(functools.partial(self._land, key))
        return await asyncio.shield(task)

    def discard(self, key: K) -> None:
        """Let the next call for ``key`` start afresh; a running flight keeps its waiters."""
        self._flights.pop(key, None)

    def _land(self, key: K, task: asyncio.Task[V]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: the waiters, if any, re-raise it themselves
