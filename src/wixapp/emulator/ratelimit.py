"""Wix's rate limit (spec §6): 200 requests per minute per app instance, sliding window."""

from __future__ import annotations

from collections import defaultdict, deque

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    def __init__(self, *, limit: int = 200, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)

    def hit(self, key: str, now: float) -> float | None:
        """Record a request; None if allowed, else seconds until one is allowed again.

        Refused requests are not recorded, so a client that honours Retry-After gets in.
        """
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        return None

    def clear(self) -> None:
        self._hits.clear()
