"""The backend's own handling of app lifecycle webhooks (spec §7): install, removal, plans.

It runs before the backend answers Wix (a few quick statements), user handlers run after,
in the background. Every step is safe against Wix's habits:

- **Redeliveries**: the event is recorded first under ``WebhookEvent.dedupe_key``; an event
  recorded before changes nothing and is acknowledged.
- **Late and out-of-order events**: the store applies a lifecycle or plan event only when it
  is newer (by ``event_time``) than the last one applied, so ``Removed(t2)`` then
  ``Installed(t1)`` leaves the instance removed. **Ties** (two events in the same second,
  Wix's timestamps' resolution) go to the one applied last: Wix sends an event when it
  happens, so of two with the same time the later delivery is the later change
  (``Installed(t)`` then ``Removed(t)`` ends removed; ``Removed(t)`` then ``Installed(t)``
  ends installed, its settings kept).
- **Failures**: if applying fails (the database went away), the record is undone and the
  error propagates, so the backend answers 5xx and Wix's retry is handled afresh.

On ``AppRemoved`` the instance is marked removed, every process refuses its callers from
then on (cached verdicts, app tokens, instance data, legacy values: ``removed``), its cached
data is dropped, and its settings are purged: at once by default, or, with a retention of N seconds
(``WIXAPP_REMOVED_RETENTION``), by ``sweep()`` once the instance has stayed removed that
long; a reinstall within the retention keeps them. The backend runs ``sweep()`` periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from wixapp.app import WixApp
from wixapp.errors import StoreUnavailableError
from wixapp.store import Store
from wixapp.tasks import cancel_and_wait
from wixapp.webhooks import EventType, PlanEvent, WebhookEvent, WebhookRouter

__all__ = [
    "DRAIN_SECONDS",
    "FORGET_WAIT",
    "PLAN_EVENTS",
    "REMOVALS_POLL_SECONDS",
    "Lifecycle",
    "Outcome",
    "Verdict",
    "running_lifecycle",
]

logger = logging.getLogger("wixapp.web.lifecycle")

REMOVALS_POLL_SECONDS: Final = 2.0
"""Without a shared cache tier, how often each process rereads the removals from the store."""

DRAIN_SECONDS: Final = 10.0
"""How long shutdown waits for background webhook handlers before cancelling them."""

PLAN_EVENTS: Final = frozenset(
    {
        EventType.PAID_PLAN_PURCHASED,
        EventType.PAID_PLAN_CHANGED,
        EventType.PAID_PLAN_AUTO_RENEWAL_CANCELLED,
        EventType.PLAN_CONVERTED_TO_PAID,
        EventType.PLAN_REACTIVATED,
        EventType.PLAN_TRANSFERRED,
    }
)

FORGET_WAIT: Final = 0.5
"""Seconds a webhook waits for other processes to drop an instance's cached data."""

Forget = Callable[[str], object]
"""Drops what is cached for an instance; may return an awaitable (a shared cache)."""


class Verdict(StrEnum):
    APPLIED = "applied"  # the event changed the stored state
    OUTDATED = "outdated"  # recorded, but newer state was already stored
    RECORDED = "recorded"  # an eventType with no built-in handling: recorded only
    DUPLICATE = "duplicate"  # a redelivery: nothing changed, handlers do not run again


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict

    @property
    def is_new(self) -> bool:
        """True unless a redelivery: user handlers run for new events only."""
        return self.verdict is not Verdict.DUPLICATE


class Lifecycle:
    """Applies lifecycle events to the store and keeps caches honest.

    ``forget`` is called with the instance ID whenever its plan changed (the backend passes
    ``WixApp.forget_instance``); ``removed`` when a removal was applied (cached data dropped
    and the instance refused in every process: ``WixApp.instance_removed``); ``restored``
    when an installation was (``WixApp.instance_restored``). ``clock`` gives epoch seconds.
    """

    def __init__(
        self,
        store: Store,
        *,
        forget: Forget | None = None,
        removed: Forget | None = None,
        restored: Forget | None = None,
        retention: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention < 0:
            raise ValueError("retention must be >= 0 seconds")
        self.store = store
        self.retention = retention
        self.clock = clock
        self._forget = forget
        self._removed = removed or forget
        self._restored = restored or forget
        self._telling: set[asyncio.Future[Any]] = set()

    async def handle(self, event: WebhookEvent) -> Outcome:
        """Record the event, then apply it; see the module docstring for the guarantees."""
        at = event.event_time or self._now()
        fresh = await self.store.record_event(
            event.instance_id,
            event_id=event.dedupe_key,
            event_type=event.event_type,
            payload={"data": event.data, "identity": event.identity},
            event_at=at,
            received_at=self._now(),
        )
        if not fresh:
            return Outcome(Verdict.DUPLICATE)
        try:
            verdict = await self._apply(event, at)
        except BaseException:
            await self._unrecord(event)
            raise
        if verdict is Verdict.APPLIED:
            logger.info("applied %s for instance %s", event.event_type, event.instance_id)
        return Outcome(verdict)

    async def sweep(self) -> list[str]:
        """Purge the settings of instances removed longer than the retention ago."""
        cutoff = self._now() - timedelta(seconds=self.retention)
        purged = await self.store.purge_removed_settings(removed_before=cutoff)
        if purged:
            logger.info("purged the settings of %d removed instances", len(purged))
        for instance_id in purged:  # cached settings included
            await self._tell(self._forget, instance_id)
        return purged

    @contextlib.asynccontextmanager
    async def sweeping(self, interval: float | None = None) -> AsyncIterator[None]:
        """Run ``sweep`` every ``interval`` seconds (default: half the retention, clamped to
        1 s … 1 h) while the block runs; does nothing without a retention."""
        if not self.retention:
            yield
            return
        period = interval or min(max(self.retention / 2, 1.0), 3600.0)
        task = asyncio.create_task(self._sweep_forever(period))
        try:
            yield
        finally:
            await cancel_and_wait(task)

    # ---- applying one event

    async def _apply(self, event: WebhookEvent, at: datetime) -> Verdict:
        kind = event.kind
        instance_id = event.instance_id
        tell = self._forget
        if kind == EventType.APP_INSTALLED:
            changed, tell = await self.store.mark_installed(instance_id, at=at), self._restored
        elif kind == EventType.APP_REMOVED:
            changed, tell = await self.store.mark_removed(instance_id, at=at), self._removed
            if changed and not self.retention:
                await self.store.purge_settings_if_removed(instance_id)
        elif kind in PLAN_EVENTS:
            changed = await self._apply_plan(event, at)
        else:
            logger.info("recorded %s for %s: no built-in handling", event.event_type, instance_id)
            return Verdict.RECORDED
        if not changed:
            return Verdict.OUTDATED
        await self._tell(tell, instance_id)
        return Verdict.APPLIED

    async def _apply_plan(self, event: WebhookEvent, at: datetime) -> bool:
        view = event.view()
        if not isinstance(view, PlanEvent):  # every PLAN_EVENTS view is one
            return False
        expires_at: datetime | None = getattr(view, "expires_on", None)
        if event.kind == EventType.PAID_PLAN_AUTO_RENEWAL_CANCELLED:
            # The plan runs on until its term ends: keep the end date a purchase told us.
            expires_at = await self._known_expiry(event.instance_id, view.vendor_product_id)
        # vendorProductId is the plan's ID: Get App Instance calls it billing.packageName.
        return await self.store.apply_plan(
            event.instance_id,
            at=at,
            package_name=view.vendor_product_id,
            vendor_product_id=view.vendor_product_id,
            billing_cycle=view.cycle,
            is_free=False,
            expires_at=expires_at,
        )

    async def _known_expiry(self, instance_id: str, product: str | None) -> datetime | None:
        record = await self.store.get_instance(instance_id)
        if record is None or record.vendor_product_id != product:
            return None
        return record.plan_expires_at

    async def _tell(self, hook: Forget | None, instance_id: str) -> None:
        """Tell the caches (drop the instance's data, refuse or serve it again). A shared
        cache tells other processes in the background: wait up to ``FORGET_WAIT`` for that,
        then let it finish on its own, so a slow or absent Redis never costs Wix its 200
        within 1250 ms. This process is told at once."""
        if hook is None:
            return
        result = hook(instance_id)
        if not inspect.isawaitable(result):
            return
        told = asyncio.ensure_future(result)
        self._telling.add(told)  # the loop keeps only weak references to tasks
        told.add_done_callback(self._telling.discard)
        try:
            async with asyncio.timeout(FORGET_WAIT):
                await asyncio.shield(told)
        except TimeoutError:
            logger.warning(
                "other processes are not told yet that %s changed; they will be once the "
                "shared cache answers",
                instance_id,
            )

    async def _unrecord(self, event: WebhookEvent) -> None:
        try:
            await self.store.forget_event(event.instance_id, event_id=event.dedupe_key)
        except Exception:
            logger.exception(
                "could not undo the record of a failed %s for %s; Wix's retry of it will be "
                "taken for a redelivery",
                event.event_type,
                event.instance_id,
            )

    async def _sweep_forever(self, period: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("the removed-settings sweep failed; retrying in %.0f s", period)
            await asyncio.sleep(period)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


@contextlib.asynccontextmanager
async def running_lifecycle(
    wix: WixApp, store: Store, *, webhooks: WebhookRouter
) -> AsyncIterator[Lifecycle]:
    """The one way every front door wires the app's lifecycle, for as long as the block runs.

    Applied events reach ``wix``: a removal refuses the instance's callers in every process,
    a reinstall serves them again, a plan change drops cached data. The removals applied
    before this process started are loaded now; without a shared cache tier to broadcast
    them, they are reread from the store every ``REMOVALS_POLL_SECONDS``. Removed settings
    are swept (``WIXAPP_REMOVED_RETENTION``); at the end the user's webhook handlers are
    drained for up to ``DRAIN_SECONDS``, then cancelled.
    """
    settings = wix.settings
    lifecycle = Lifecycle(
        store,
        forget=wix.forget_instance,
        removed=wix.instance_removed,
        restored=wix.instance_restored,
        retention=settings.removed_retention_seconds,
        clock=wix.clock,
    )
    wix.removals.use_loader(store.removed_instances, status=store.removed_at)
    await _load_removals(wix)
    async with contextlib.AsyncExitStack() as running:
        running.push_async_callback(webhooks.shutdown, DRAIN_SECONDS)
        if settings.redis_url is None or not settings.cache_enabled:
            following = asyncio.create_task(wix.removals.follow(REMOVALS_POLL_SECONDS))
            running.push_async_callback(cancel_and_wait, following)
        await running.enter_async_context(lifecycle.sweeping())
        yield lifecycle


async def _load_removals(wix: WixApp) -> None:
    """The removals applied before this process started (none to load while the schema is
    not migrated: /readyz says so)."""
    try:
        await wix.removals.load()
    except StoreUnavailableError as error:
        logger.warning("could not load the removed instances at start: %s", error.code)
