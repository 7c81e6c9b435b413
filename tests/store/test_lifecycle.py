"""Lifecycle handling against the store: purges, retention sweeps, undo, cache forgetting.

The HTTP side (POST /webhooks) is in tests/server/test_webhooks_route.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wixapp.errors import InstanceRemovedError
from wixapp.store import InstanceStatus, Store, StoreUnavailableError
from wixapp.testing import MovableClock
from wixapp.web.lifecycle import FORGET_WAIT, Lifecycle, Verdict
from wixapp.webhooks import WebhookEvent

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(kind: str, instance_id: str, minutes: float, **data: Any) -> WebhookEvent:
    return WebhookEvent(event_type=kind, instance_id=instance_id, data=data, issued_at=at(minutes))


async def test_purge_if_removed_spares_an_active_instance(store: Store, instance_id: str) -> None:
    await store.mark_installed(instance_id, at=at(0))
    await store.put_settings(instance_id, {"a": 1}, if_match=None)
    assert not await store.purge_settings_if_removed(instance_id)
    assert await store.get_settings(instance_id) is not None

    await store.mark_removed(instance_id, at=at(1))
    assert await store.purge_settings_if_removed(instance_id)
    assert await store.get_settings(instance_id) is None


async def test_the_sweep_purges_only_long_removed_instances(
    store: Store, instance_id: str, other_instance_id: str
) -> None:
    for iid in (instance_id, other_instance_id):
        await store.mark_installed(iid, at=at(0))
        await store.put_settings(iid, {"a": 1}, if_match=None)
    await store.mark_removed(instance_id, at=at(10))
    await store.mark_removed(other_instance_id, at=at(30))

    assert instance_id not in await store.purge_removed_settings(removed_before=at(10))
    assert instance_id in await store.purge_removed_settings(removed_before=at(20))
    assert await store.get_settings(instance_id) is None
    assert await store.get_settings(other_instance_id) is not None


async def test_the_sweep_spares_a_reinstalled_instance(store: Store, instance_id: str) -> None:
    await store.mark_installed(instance_id, at=at(0))
    await store.mark_removed(instance_id, at=at(10))
    await store.mark_installed(instance_id, at=at(20))
    await store.put_settings(instance_id, {"a": 1}, if_match=None)

    assert instance_id not in await store.purge_removed_settings(removed_before=at(60))
    assert await store.get_settings(instance_id) is not None


async def test_last_seen_touches_never_resurrect_a_removed_instance(
    store: Store, instance_id: str
) -> None:
    await store.mark_installed(instance_id, at=at(0))
    await store.mark_removed(instance_id, at=at(10))
    await store.touch_instance(instance_id, site_id="site-1", seen_at=at(20))
    await store.touch_many({instance_id: ("site-1", at(30).timestamp())})
    with pytest.raises(InstanceRemovedError):  # no write creates data for it either
        await store.put_settings(instance_id, {"a": 1}, if_match=None)

    assert await store.get_settings(instance_id) is None
    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.status is InstanceStatus.REMOVED
    assert record.site_id == "site-1"  # the touch itself was recorded


async def test_list_and_forget_events(store: Store, instance_id: str) -> None:
    for n, kind in enumerate(["AppInstalled", "AppRemoved"]):
        await store.record_event(
            instance_id,
            event_id=f"{instance_id}-{n}",
            event_type=kind,
            payload={"n": n},
            event_at=at(n),
            received_at=at(n),
        )
    events = await store.list_events(instance_id)
    assert [(e.event_type, e.payload, e.event_at) for e in events] == [
        ("AppInstalled", {"n": 0}, at(0)),
        ("AppRemoved", {"n": 1}, at(1)),
    ]
    assert await store.forget_event(instance_id, event_id=f"{instance_id}-0")
    assert not await store.forget_event(instance_id, event_id=f"{instance_id}-0")
    assert [e.event_type for e in await store.list_events(instance_id)] == ["AppRemoved"]


async def test_events_are_scoped_by_instance(
    store: Store, instance_id: str, other_instance_id: str
) -> None:
    await store.record_event(
        instance_id, event_id=f"{instance_id}-x", event_type="AppInstalled", payload={}
    )
    assert await store.list_events(other_instance_id) == []
    assert not await store.forget_event(other_instance_id, event_id=f"{instance_id}-x")


# ---- Lifecycle


async def test_removal_purges_at_once_without_retention(store: Store, instance_id: str) -> None:
    lifecycle = Lifecycle(store)
    await lifecycle.handle(event("AppInstalled", instance_id, 0))
    await store.put_settings(instance_id, {"a": 1}, if_match=None)

    outcome = await lifecycle.handle(event("AppRemoved", instance_id, 10))

    assert outcome.verdict is Verdict.APPLIED
    assert await store.get_settings(instance_id) is None


async def test_retention_purges_through_the_sweep_only_when_due(
    store: Store, instance_id: str
) -> None:
    clock = MovableClock(at(10).timestamp())
    lifecycle = Lifecycle(store, retention=3600, clock=clock)
    await lifecycle.handle(event("AppInstalled", instance_id, 0))
    await store.put_settings(instance_id, {"a": 1}, if_match=None)
    await lifecycle.handle(event("AppRemoved", instance_id, 10))

    clock.now = at(69).timestamp()
    assert instance_id not in await lifecycle.sweep()
    assert await store.get_settings(instance_id) is not None
    clock.now = at(71).timestamp()
    assert instance_id in await lifecycle.sweep()
    assert await store.get_settings(instance_id) is None


async def test_a_reinstall_within_the_retention_keeps_the_settings(
    store: Store, instance_id: str
) -> None:
    clock = MovableClock(at(10).timestamp())
    lifecycle = Lifecycle(store, retention=3600, clock=clock)
    await lifecycle.handle(event("AppInstalled", instance_id, 0))
    await store.put_settings(instance_id, {"a": 1}, if_match=None)
    await lifecycle.handle(event("AppRemoved", instance_id, 10))
    await lifecycle.handle(event("AppInstalled", instance_id, 20))

    clock.now = at(24 * 60).timestamp()
    await lifecycle.sweep()
    record = await store.get_settings(instance_id)
    assert record is not None
    assert record.document == {"a": 1}


async def test_sweeping_runs_the_sweep_periodically(store: Store, instance_id: str) -> None:
    clock = MovableClock(at(0).timestamp())
    lifecycle = Lifecycle(store, retention=60, clock=clock)
    await lifecycle.handle(event("AppInstalled", instance_id, 0))
    await store.put_settings(instance_id, {"a": 1}, if_match=None)
    await lifecycle.handle(event("AppRemoved", instance_id, 1))
    clock.now = at(5).timestamp()

    async with lifecycle.sweeping(interval=0.01):
        for _ in range(200):
            if await store.get_settings(instance_id) is None:
                break
            await asyncio.sleep(0.01)
    assert await store.get_settings(instance_id) is None


async def test_sweeping_without_retention_starts_nothing(store: Store) -> None:
    before = len(asyncio.all_tasks())
    async with Lifecycle(store).sweeping():
        assert len(asyncio.all_tasks()) == before


@pytest.mark.parametrize("style", ["sync", "async"])
async def test_forget_runs_when_the_state_changed(
    store: Store, instance_id: str, style: str
) -> None:
    forgotten: list[str] = []

    def forget_sync(iid: str) -> None:
        forgotten.append(iid)

    async def forget_async(iid: str) -> None:
        forgotten.append(iid)

    lifecycle = Lifecycle(store, forget=forget_sync if style == "sync" else forget_async)
    await lifecycle.handle(event("AppRemoved", instance_id, 10))
    await lifecycle.handle(event("AppInstalled", instance_id, 5))  # outdated: nothing to drop
    await lifecycle.handle(event("PaidPlanPurchased", instance_id, 11, vendorProductId="p"))
    await lifecycle.handle(event("Unheard", instance_id, 12))

    assert forgotten == [instance_id, instance_id]


async def test_a_slow_cross_process_forget_does_not_hold_the_answer(
    store: Store, instance_id: str
) -> None:
    never = asyncio.get_running_loop().create_future()

    def forget(iid: str) -> asyncio.Future[None]:
        return never  # e.g. the shared cache is down: the invalidation waits for it

    started = time.perf_counter()
    outcome = await Lifecycle(store, forget=forget).handle(event("AppRemoved", instance_id, 1))

    assert outcome.verdict is Verdict.APPLIED
    assert time.perf_counter() - started < FORGET_WAIT + 0.4
    assert not never.cancelled()  # left to finish on its own
    never.set_result(None)


async def test_a_removal_of_an_unseen_instance_is_remembered(
    store: Store, instance_id: str
) -> None:
    await Lifecycle(store).handle(event("AppRemoved", instance_id, 10))
    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.status is InstanceStatus.REMOVED


async def test_a_failed_apply_undoes_the_record(
    store: Store, instance_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle = Lifecycle(store)

    async def down(*args: object, **kwargs: object) -> bool:
        raise StoreUnavailableError()

    monkeypatch.setattr(store, "mark_removed", down)
    with pytest.raises(StoreUnavailableError):
        await lifecycle.handle(event("AppRemoved", instance_id, 10))
    assert await store.list_events(instance_id) == []


async def test_an_event_without_any_time_uses_the_clock(store: Store, instance_id: str) -> None:
    clock = MovableClock(at(42).timestamp())
    lifecycle = Lifecycle(store, clock=clock)
    bare = WebhookEvent(event_type="AppInstalled", instance_id=instance_id)

    await lifecycle.handle(bare)

    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.lifecycle_at == at(42)


def test_negative_retention_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="retention"):
        Lifecycle(store, retention=-1)
