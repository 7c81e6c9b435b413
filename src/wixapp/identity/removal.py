"""Removed app instances, refused at once in every process for the cost of a dict lookup.

Once ``AppRemoved`` is applied, Wix refuses the instance's new tokens, but what a process
has cached (token verdicts, app tokens, instance data) and legacy ``instance`` values (signed
locally) would keep working. :class:`RemovedInstances` is the per-process registry of removed
instances that identification, elevation and the legacy check consult before serving:

- **At once, everywhere.** The process that applies the removal records it before the
  webhook is answered; with a shared tier the other processes are told through its
  invalidation broadcast (authenticated, see :mod:`wixapp.cache.redis`); without one they
  reload the recent removals from the database every few seconds (``follow``). A process
  that starts, or reconnects after missing broadcasts, reloads them too (``loader``).
- **Cheap.** ``check`` is one ``dict.get`` for an instance that is not removed.
- **Bounded.** A removal told by a broadcast is remembered for ``horizon`` seconds, the
  longest anything cached or signed for the instance could still be accepted without Wix
  (the verdict cache's max age, the legacy values' max age); after that Wix itself refuses.
  Each reload from the database renews the removals still recorded there. At most
  ``max_size`` removals are kept (the least recent dropped first).
- **Reversible.** A reinstall applied later (``restore``) serves the instance again.
- **Told, then checked.** A broadcast is a hint, not a verdict: with a ``status`` reader (the
  store's, wired by :func:`wixapp.web.lifecycle.running_lifecycle`) the process re-reads the
  instance's state before acting, so a replayed ``removed`` after a reinstall, or ``restored``
  after a removal, changes nothing. Whoever can write to Redis costs latency, not verdicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import cast

from wixapp.cache import SharedBackend
from wixapp.cache.layered import done
from wixapp.errors import InstanceRemovedError
from wixapp.logs import LogLimiter

__all__ = ["REMOVED", "RESTORED", "RemovalLoader", "RemovalStatus", "RemovedInstances"]

logger = logging.getLogger("wixapp.identity")
_reload_failures = LogLimiter(interval=60.0)

REMOVED = "removed"
RESTORED = "restored"
"""The shared tier's broadcast namespaces: an instance was removed, or installed again."""

RemovalLoader = Callable[[int], Awaitable[Iterable[str]]]
"""``await loader(limit)`` → the IDs of the instances removed now, most recent first."""

RemovalStatus = Callable[[str], Awaitable[datetime | None]]
"""``await status(instance_id)`` → when the instance was removed, or None while installed."""


class RemovedInstances:
    """``check(instance_id)`` raises InstanceRemovedError while the instance is removed."""

    def __init__(
        self,
        *,
        horizon: float,
        max_size: int = 100_000,
        clock: Callable[[], float] = time.time,
        shared: SharedBackend | None = None,
        loader: RemovalLoader | None = None,
    ) -> None:
        self._horizon = horizon
        self._max_size = max_size
        self._clock = clock
        self._shared = shared
        self._loader = loader
        self._status: RemovalStatus | None = None
        self._until: dict[str, float] = {}  # instance ID → when its removal may be forgotten
        if shared is not None:
            shared.on_invalidate(REMOVED, self._removed_elsewhere)
            shared.on_invalidate(RESTORED, self._restored_elsewhere)
            shared.on_resync(self._resync)

    def __len__(self) -> int:
        return len(self._until)

    def check(self, instance_id: str) -> None:
        """The hot path: one dict lookup, and a raise for a removed instance."""
        until = self._until.get(instance_id)
        if until is not None and not self._expired(instance_id, until):
            raise InstanceRemovedError()

    def is_removed(self, instance_id: str) -> bool:
        until = self._until.get(instance_id)
        return until is not None and not self._expired(instance_id, until)

    def mark(self, instance_id: str, *, at: float | None = None) -> Awaitable[None]:
        """Removed (at ``at``, default now): refused here at once, elsewhere when told."""
        self._remember(instance_id, self._clock() if at is None else at)
        return self._tell(REMOVED, instance_id)

    def restore(self, instance_id: str) -> Awaitable[None]:
        """Installed again: served here at once, elsewhere when told."""
        self._until.pop(instance_id, None)
        return self._tell(RESTORED, instance_id)

    def use_loader(self, loader: RemovalLoader, *, status: RemovalStatus | None = None) -> None:
        """Where :meth:`load` reads the recent removals, and ``status`` one instance's state
        when a broadcast says it changed (the front doors pass their store's)."""
        self._loader = loader
        self._status = status

    async def load(self) -> int:
        """Take the recent removals from the database (at start, and after missed messages)."""
        if self._loader is None:
            return 0
        found = list(await self._loader(self._max_size))
        # Replace rather than merge: a reinstall this process was not told of is honoured.
        now = self._clock()
        self._until = {}
        for instance_id in reversed(found):  # the most recent last: dropped last
            self._remember(instance_id, now)
        return len(found)

    async def follow(self, interval: float) -> None:
        """Reload every ``interval`` seconds, forever: how processes that share no cache
        tier learn of each other's removals (run it as a task; cancel it to stop)."""
        while True:
            await asyncio.sleep(interval)
            await self._reload()

    # ---- internals

    def _expired(self, instance_id: str, until: float) -> bool:
        if until > self._clock():
            return False
        self._until.pop(instance_id, None)
        return True

    def _remember(self, instance_id: str, removed_at: float) -> None:
        until = removed_at + self._horizon
        if until <= self._clock():
            return
        self._until.pop(instance_id, None)  # re-inserted last: the oldest go first
        self._until[instance_id] = until
        while len(self._until) > self._max_size:
            del self._until[next(iter(self._until))]

    def _tell(self, namespace: str, instance_id: str) -> Awaitable[None]:
        shared = self._shared
        if shared is None:
            return done
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            shared.defer_invalidation(namespace, [instance_id])
            return done
        return cast("Awaitable[None]", shared.spawn(shared.invalidate(namespace, [instance_id])))

    def _removed_elsewhere(self, instance_id: str) -> None:
        if self._status is None:  # no store to ask: the (signed, fresh) message is all we know
            self._remember(instance_id, self._clock())
        else:
            self._recheck(instance_id, told_removed=True)

    def _restored_elsewhere(self, instance_id: str) -> None:
        if self._status is None:
            self._until.pop(instance_id, None)
        else:
            self._recheck(instance_id, told_removed=False)

    def _recheck(self, instance_id: str, *, told_removed: bool) -> None:
        if self._shared is not None:
            self._shared.spawn(self._reread(instance_id, told_removed=told_removed))

    async def _reread(self, instance_id: str, *, told_removed: bool) -> None:
        """Apply what the store says now. If it cannot say, a removal is applied (never
        missed; the next reload corrects a stale one) and a reinstall is not (never served
        on a message's word)."""
        assert self._status is not None
        try:
            removed = await self._status(instance_id) is not None
        except Exception as error:
            self._reload_failed(error)
            removed = told_removed or self.is_removed(instance_id)
        if not removed:
            self._until.pop(instance_id, None)
        elif not self.is_removed(instance_id):
            self._remember(instance_id, self._clock())

    def _resync(self) -> None:
        if self._loader is None or self._shared is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to reload into
            asyncio.get_running_loop()
            self._shared.spawn(self._reload())

    async def _reload(self) -> None:
        try:
            await self.load()
        except Exception as error:  # the database is away: keep what is known, say so
            self._reload_failed(error)

    @staticmethod
    def _reload_failed(error: Exception) -> None:
        if _reload_failures.allow() is not None:
            logger.warning(
                "could not reload the removed instances from the database (%s); "
                "keeping the ones known",
                type(error).__name__,
            )
