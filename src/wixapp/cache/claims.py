"""Work done once per window of time across every process: the first to claim a key does it.

:class:`IntervalClaims` splits the clock into windows of ``interval`` seconds (aligned on the
epoch, so every host agrees) and keeps one Redis hash per window, holding the keys claimed
in it. ``await claims.claim(keys, now)`` answers which of ``keys`` this process is the first
to claim in ``now``'s window: one script call for a batch (per ``CHUNK`` keys, so a large
batch never holds Redis for long). The hash expires two windows later. Last-seen writes use
it (:mod:`wixapp.server.seen`): each instance is written once per window by whichever
process claims it, not once per process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from wixapp.cache.redis import RedisBackend

__all__ = ["CHUNK", "IntervalClaims"]

CHUNK = 1_000
"""Keys per script call (about a millisecond of Redis's time)."""

# KEYS[1] the window's hash; ARGV[1] its TTL in ms, ARGV[2..] the keys. Returns those set now.
_CLAIM = """
local claimed = {}
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], 1) == 1 then claimed[#claimed + 1] = ARGV[i] end
end
if #claimed > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return claimed
"""


class IntervalClaims:
    """Claims of keys per window of ``interval`` seconds, shared through Redis. Raises
    :class:`~wixapp.cache.shared.SharedCacheUnavailable` when Redis cannot be asked (the
    caller then does the work itself, as it would without Redis)."""

    def __init__(self, shared: RedisBackend, *, namespace: str, interval: float) -> None:
        if interval <= 0:
            raise ValueError("a claim's interval must be positive")
        self.interval = interval
        self._shared = shared
        self._namespace = namespace
        self._script = shared.script(_CLAIM)
        self._ttl_ms = max(1, int(2 * interval * 1000))

    async def claim(self, keys: Sequence[str], now: float) -> set[str]:
        """The keys this process claimed first in ``now``'s window (one round trip per
        ``CHUNK`` keys)."""
        window = math.floor(now / self.interval)
        name = self._shared.name(self._namespace, str(window))
        claimed: set[str] = set()
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            answer = await self._script([name], [self._ttl_ms, *chunk])
            claimed.update(_text(each) for each in answer)
        return claimed


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
