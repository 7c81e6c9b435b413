"""Bookkeeping kept off the request path: when each instance was last seen, and the site
details (URL, locale) learnt from its instance data.

A request only notes the instance in a dict (no I/O); a background task writes the notes
in one batch. Each instance's last-seen is written at most once per ``interval``. Memory is
bounded: what was written longer than ``interval`` ago is forgotten at each flush, and at
most ``max_size`` instances are remembered in each table (the oldest dropped first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wixapp.errors import StoreUnavailableError
from wixapp.logs import LogLimiter

__all__ = ["LastSeenRecorder"]

logger = logging.getLogger("wixapp.server")
# A busy or unreachable database fails every flush (each second) alike: a line a minute.
_refusals_logged = LogLimiter(interval=60.0)

Flush = Callable[[dict[str, tuple[str | None, float]]], Awaitable[None]]
SiteDetails = tuple[str | None, str | None, str | None]
"""(site ID, site URL, locale)."""
WriteSite = Callable[[str, SiteDetails], Awaitable[None]]


class LastSeenRecorder:
    def __init__(
        self,
        flush: Flush,
        *,
        write_site: WriteSite | None = None,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        max_size: int = 100_000,
    ) -> None:
        self._flush = flush
        self._max_size = max_size
        self._write_site = write_site
        self._sites: dict[str, SiteDetails] = {}
        self._interval = interval
        self._clock = clock
        self._written: dict[str, float] = {}
        self._pending: dict[str, tuple[str | None, float]] = {}
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
        return len(self._written) + len(self._pending) + len(self._sites)

    def forget(self, instance_id: str) -> None:
        self._written.pop(instance_id, None)
        self._pending.pop(instance_id, None)
        self._sites.pop(instance_id, None)

    async def flush(self) -> int:
        self._forget_written_before(self._clock() - self._interval)
        await self._flush_sites()
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        try:
            await self._flush(batch)
        except Exception as error:
            _log_failure(error, "last-seen for %d instances", len(batch))
            for instance_id, entry in batch.items():
                self._pending.setdefault(instance_id, entry)
            return 0
        return len(batch)

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
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

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
