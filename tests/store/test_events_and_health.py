from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from wixapp.store import Store, StoreUnavailableError


async def test_record_event_is_true_once_per_event_id(store: Store, instance_id: str) -> None:
    async def record(event_id: str) -> bool:
        return await store.record_event(
            instance_id,
            event_id=event_id,
            event_type="AppInstalled",
            payload={"appId": "app-1"},
            event_at=datetime(2025, 3, 1, tzinfo=UTC),
        )

    assert await record(f"evt-{instance_id}")
    assert not await record(f"evt-{instance_id}")  # a redelivery
    assert await record(f"evt2-{instance_id}")


async def test_ping_answers(store: Store) -> None:
    await store.ping()


async def test_an_unreachable_database_is_a_store_error() -> None:
    async with await Store.open("postgresql://postgres@127.0.0.1:1/none") as store:
        with pytest.raises(StoreUnavailableError) as failed:
            await store.ping()
    assert failed.value.status == 503


async def test_create_migrates_then_opens(empty_database_url: str, instance_id: str) -> None:
    async with await Store.create(empty_database_url) as store:
        await store.touch_instance(instance_id)
        assert await store.get_instance(instance_id) is not None


async def test_sqlite_gets_its_directory_wal_mode_and_foreign_keys(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tmp_path_factory.mktemp("db") / "nested" / "deeper" / "app.db"
    async with await Store.create(f"sqlite:///{path}") as store, store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    assert path.exists()
