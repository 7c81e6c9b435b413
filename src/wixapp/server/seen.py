"""Bookkeeping kept off the request path: when each instance was last seen, and the site
details (URL, locale) learnt from its instance data.

A request only notes the instance in a dict (no I/O); a background task writes the notes
in one batch. Each process notes an instance at most once per ``interval``. With ``claims``
(Redis: :class:`~wixapp.cache.claims.IntervalClaims`), a batch is first claimed in one
round trip, and only the instances this process claimed first in the current window of
``interval`` are written: one write per instance per window across every process (so the
stored last-seen lags by less than two intervals). Without Redis, while it is unavailable,
and at shutdown, each process writes its own notes. Memory is bounded: what was noted longer
than ``interval`` ago is forgotten at each flush, and at most ``max_size`` instances are
remembered in each table (the oldest dropped first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from wixapp.cache.shared import SharedCacheUnavailable
from wixapp.errors import StoreUnavailableError
from wixapp.logs import LogLimiter
from wixapp.tasks import cancel_and_wait

__all__ = ["LastSeenRecorder"]

logger = logging.getLogger("wixapp.server")
# A busy or unreachable database fails every flush (each second) alike: a line a minute.
_refusals_logged = LogLimiter(interval=60.0)

Flush = Callable[[dict[str, tuple[str | None, float]]], Awaitable[None]]
SiteDetails = tuple[str | None, str | None, str | None]
"""(site ID, site URL, locale)."""
WriteSite = Callable[[str, SiteDetails], Awaitable[None]]


class Claims(Protocol):
    """Which keys this process is first to claim in ``now``'s window, across processes."""

    async def claim(self, keys: Sequence[str], now: float) -> set[str]: ...


class LastSeenRecorder:
    def __init__(
        self,
        flush: Flush,
        *,
        write_site: WriteSite | None = None,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        max_size: int = 100_000,
        claims: Claims | None = None,
    ) -> None:
        self._flush = flush
        self._claims = claims
        self._max_size = max_size
        self._write_site = write_site
        self._sites: dict[str, SiteDetails] = {}
        self._interval = interval
        self._clock = clock
        self._written: dict[str, float] = {}
        self._pending: dict[str, tuple[str | None, float]] = {}  # noted, not claimed yet
        self._claimed: dict[str, tuple[str | None, float]] = {}  # ours to write
        self._task: asyncio.Task[None] | None = None

    def note(self, instance_id: str, site_id: str | None) -> None:
        """O(1), no I/O: called on every identified request."""
        now = self._clock()
        last = self._written.get(instance_id)
        if last is not None and now - last < self._interval:
            return
        self._written.pop(instance_id, None)  # re-inserted last: oldest first
        self._written[instance_id] = now
        self._pending[instance_id] = (site_id, now)
        _bound(self._written, self._max_size)
        _bound(self._pending, self._max_size)  # the database is away: keep the newest

    def note_site(self, instance_id: str, details: SiteDetails) -> None:
        """O(1), no I/O: the site details an instance read just returned."""
        self._sites[instance_id] = details
        _bound(self._sites, self._max_size)

    def __len__(self) -> int:
        return len(self._written) + len(self._pending) + len(self._claimed) + len(self._sites)

    def forget(self, instance_id: str) -> None:
        self._written.pop(instance_id, None)
        self._pending.pop(instance_id, None)
        self._claimed.pop(instance_id, None)
        self._sites.pop(instance_id, None)

    async def flush(self, *, claim: bool = True) -> int:
        """Write what is due; the number of instances written. Without ``claim`` every note
        is written, unclaimed (at shutdown: exit does not wait on Redis, and a few
        instances are written twice)."""
        now = self._clock()
        self._forget_written_before(now - self._interval)
        await self._flush_sites()
        await self._claim(now, claim=claim)
        if not self._claimed:
            return 0
        batch, self._claimed = self._claimed, {}
        try:
            await self._flush(batch)
        except Exception as error:
            _log_failure(error, "last-seen for %d instances", len(batch))
            for instance_id, entry in batch.items():  # still ours: retried without a claim
                self._claimed.setdefault(instance_id, entry)
            _bound(self._claimed, self._max_size)
            return 0
        return len(batch)

    async def _claim(self, now: float, *, claim: bool) -> None:
        """Move the notes this process is to write (all of them without claims) to
        ``_claimed``; another process writes the others in this window."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        if self._claims is not None and claim:
            try:
                ours = await self._claims.claim(list(batch), now)
            except SharedCacheUnavailable:
                pass  # as without Redis: this process writes its own notes
            else:
                batch = {key: entry for key, entry in batch.items() if key in ours}
        self._claimed.update(batch)
        _bound(self._claimed, self._max_size)

    async def _flush_sites(self) -> None:
        if self._write_site is None:
            self._sites.clear()
            return
        sites, self._sites = self._sites, {}
        for instance_id, details in sites.items():
            try:
                await self._write_site(instance_id, details)
            except Exception as error:
                _log_failure(error, "the site details of an instance")
                self._sites.setdefault(instance_id, details)
                return

    def _forget_written_before(self, cutoff: float) -> None:
        written = self._written
        while written:
            oldest = next(iter(written))
            if written[oldest] >= cutoff:
                return
            del written[oldest]

    def start(self, period: float = 1.0) -> None:
        self._task = asyncio.create_task(self._run(period))

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self.flush(claim=False)

    async def _run(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            await self.flush()


def _bound(table: dict[str, Any], max_size: int) -> None:
    while len(table) > max_size:
        del table[next(iter(table))]


def _log_failure(error: Exception, what: str, *args: object) -> None:
    if not isinstance(error, StoreUnavailableError):
        logger.exception("could not record " + what + "; will retry", *args)
        return
    if _refusals_logged.allow(what) is not None:  # the store logged why, without a traceback
        logger.warning(
            "could not record " + what + " (the database refused: %s; the wixapp.store line "
            "says why); will retry",
            *args,
            error.code,
        )
