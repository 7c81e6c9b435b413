from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wixapp.store import InstanceStatus, Store, make_engine

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_touch_creates_the_instance_then_moves_last_seen(
    store: Store, instance_id: str
) -> None:
    await store.touch_instance(instance_id, site_id="site-1", seen_at=at(0))
    await store.touch_instance(instance_id, seen_at=at(5))

    record = await store.get_instance(instance_id)
    assert record is not None
    assert (record.first_seen_at, record.last_seen_at) == (at(0), at(5))
    assert record.site_id == "site-1"  # a touch without site_id keeps the known one
    assert record.status is InstanceStatus.ACTIVE
    assert record.installed_at is None


async def test_touch_defaults_to_the_clock(database_url: str, instance_id: str) -> None:
    async with Store(make_engine(database_url), clock=lambda: at(7)) as store:
        await store.touch_instance(instance_id)
        record = await store.get_instance(instance_id)
    assert record is not None
    assert record.first_seen_at == record.last_seen_at == at(7)


async def test_touch_many_writes_a_batch_and_never_moves_last_seen_back(
    store: Store, instance_id: str, other_instance_id: str
) -> None:
    await store.touch_many({instance_id: ("site-a", at(10)), other_instance_id: (None, at(1))})
    # A late flush from another process carries an older time, and Unix seconds.
    await store.touch_many({instance_id: ("site-b", at(3).timestamp())})

    first = await store.get_instance(instance_id)
    second = await store.get_instance(other_instance_id)
    assert first is not None
    assert second is not None
    assert (first.last_seen_at, first.site_id) == (at(10), "site-b")
    assert (second.last_seen_at, second.site_id) == (at(1), None)
    await store.touch_many({})


async def test_unknown_instance_is_none(store: Store, instance_id: str) -> None:
    assert await store.get_instance(instance_id) is None


async def test_timestamps_come_back_as_aware_utc(store: Store, instance_id: str) -> None:
    paris = datetime(2025, 3, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    await store.touch_instance(instance_id, seen_at=paris)

    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.last_seen_at == paris
    assert record.last_seen_at.tzinfo is UTC
    assert record.last_seen_at.microsecond == 123456


async def test_naive_timestamps_are_refused(store: Store, instance_id: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.touch_instance(instance_id, seen_at=datetime(2025, 1, 1))


@pytest.mark.parametrize("bad", ["", "x" * 129])
async def test_malformed_instance_ids_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(ValueError, match="instance_id"):
        await store.get_instance(bad)


async def test_update_instance_info_sets_given_fields_and_leaves_the_rest(
    store: Store, instance_id: str
) -> None:
    await store.touch_instance(instance_id, site_id="site-1")
    await store.update_instance_info(
        instance_id, site_url="https://example.com", locale="en", package_name="pro", is_free=False
    )
    await store.update_instance_info(instance_id, locale=None, billing_cycle="MONTHLY")

    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.site_id == "site-1"
    assert record.site_url == "https://example.com"
    assert record.locale is None  # None clears; an omitted field is left alone
    assert (record.package_name, record.billing_cycle, record.is_free) == ("pro", "MONTHLY", False)


async def test_update_instance_info_creates_an_unknown_instance(
    store: Store, instance_id: str
) -> None:
    await store.update_instance_info(instance_id, site_url="https://example.com")
    await store.update_instance_info(instance_id)

    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.site_url == "https://example.com"


async def test_lifecycle_events_apply_only_when_newer(store: Store, instance_id: str) -> None:
    assert await store.mark_installed(instance_id, at=at(10))
    # The same second again applies (ties go to the event applied last; the webhook route
    # drops redeliveries by their dedupe key before they reach the store).
    assert await store.mark_installed(instance_id, at=at(10))
    assert not await store.mark_removed(instance_id, at=at(5))  # older than the install

    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.is_active
    assert (record.installed_at, record.removed_at, record.lifecycle_at) == (at(10), None, at(10))


async def test_removal_then_reinstall_reactivates(store: Store, instance_id: str) -> None:
    await store.mark_installed(instance_id, at=at(0))
    assert await store.mark_removed(instance_id, at=at(10))
    removed = await store.get_instance(instance_id)
    assert removed is not None
    assert (removed.status, removed.removed_at) == (InstanceStatus.REMOVED, at(10))

    assert not await store.mark_installed(instance_id, at=at(5))  # late, from before removal
    assert await store.mark_installed(instance_id, at=at(20))

    again = await store.get_instance(instance_id)
    assert again is not None
    assert again.is_active
    assert (again.installed_at, again.removed_at, again.lifecycle_at) == (at(20), None, at(20))


async def test_removal_of_an_unseen_instance_is_remembered(store: Store, instance_id: str) -> None:
    # Delivered before the install event: the late install must not resurrect the instance.
    assert await store.mark_removed(instance_id, at=at(10))
    assert not await store.mark_installed(instance_id, at=at(0))

    record = await store.get_instance(instance_id)
    assert record is not None
    assert record.status is InstanceStatus.REMOVED


async def test_plan_events_apply_only_when_newer(store: Store, instance_id: str) -> None:
    await store.touch_instance(instance_id)
    assert await store.apply_plan(
        instance_id,
        at=at(10),
        package_name="pro",
        vendor_product_id="vp-pro",
        billing_cycle="YEARLY",
        expires_at=at(60 * 24 * 365),
    )
    assert not await store.apply_plan(instance_id, at=at(5), package_name=None, is_free=True)

    record = await store.get_instance(instance_id)
    assert record is not None
    assert (record.package_name, record.vendor_product_id) == ("pro", "vp-pro")
    assert (record.billing_cycle, record.is_free) == ("YEARLY", False)
    assert (record.plan_expires_at, record.plan_event_at) == (at(60 * 24 * 365), at(10))

    assert await store.apply_plan(instance_id, at=at(20), package_name=None, is_free=True)
    cancelled = await store.get_instance(instance_id)
    assert cancelled is not None
    assert (cancelled.package_name, cancelled.is_free, cancelled.plan_expires_at) == (
        None,
        True,
        None,
    )


async def test_plan_and_lifecycle_orders_are_independent(store: Store, instance_id: str) -> None:
    await store.mark_installed(instance_id, at=at(30))
    assert await store.apply_plan(instance_id, at=at(10), package_name="pro")
