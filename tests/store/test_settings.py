from __future__ import annotations

import asyncio

import pytest

from wixapp.store import PreconditionFailedError, SettingsRecord, Store, etag_for


async def test_first_write_creates_settings_and_the_instance(
    store: Store, instance_id: str
) -> None:
    assert await store.get_settings(instance_id) is None

    written = await store.put_settings(
        instance_id, {"title": "Hé", "n": [1, 2]}, if_match=None, updated_by="user-1"
    )

    assert (written.version, written.etag, written.updated_by) == (1, '"v1"', "user-1")
    assert written.updated_at.tzinfo is not None
    assert await store.get_settings(instance_id) == written
    assert await store.get_instance(instance_id) is not None


async def test_etag_flow_and_stale_writes_fail(store: Store, instance_id: str) -> None:
    first = await store.put_settings(instance_id, {"n": 1}, if_match=None)
    second = await store.put_settings(instance_id, {"n": 2}, if_match=first.etag)
    assert (second.version, second.etag) == (2, etag_for(2))

    with pytest.raises(PreconditionFailedError) as failed:
        await store.put_settings(instance_id, {"n": 3}, if_match=first.etag)

    assert failed.value.status == 412
    assert failed.value.current_etag == second.etag
    assert failed.value.headers() == {"ETag": second.etag}
    assert await store.get_settings(instance_id) == second


@pytest.mark.parametrize(
    "if_match", ['"v9"', 'W/"v1"', "v1", '"x1"', '"v99999999999"', "", '"v0", "v2"']
)
async def test_etags_that_do_not_name_the_current_version_fail(
    store: Store, instance_id: str, if_match: str
) -> None:
    await store.put_settings(instance_id, {"n": 1}, if_match=None)

    with pytest.raises(PreconditionFailedError):
        await store.put_settings(instance_id, {"n": 2}, if_match=if_match)


async def test_an_if_match_list_naming_the_current_version_succeeds(
    store: Store, instance_id: str
) -> None:
    await store.put_settings(instance_id, {"n": 1}, if_match=None)

    written = await store.put_settings(instance_id, {"n": 2}, if_match='"v7", W/"v3", "v1"')

    assert written.version == 2


async def test_star_needs_existing_settings(store: Store, instance_id: str) -> None:
    with pytest.raises(PreconditionFailedError) as failed:
        await store.put_settings(instance_id, {"n": 1}, if_match="*")
    assert failed.value.current_etag is None
    assert failed.value.headers() == {}

    await store.put_settings(instance_id, {"n": 1}, if_match=None)
    assert (await store.put_settings(instance_id, {"n": 2}, if_match="*")).version == 2


async def test_create_only_writes_only_the_first_time(store: Store, instance_id: str) -> None:
    created = await store.put_settings(instance_id, {"n": 1}, if_match=None, create_only=True)
    assert created.version == 1

    with pytest.raises(PreconditionFailedError) as failed:
        await store.put_settings(instance_id, {"n": 2}, if_match=None, create_only=True)
    assert failed.value.current_etag == created.etag
    with pytest.raises(ValueError, match="create_only"):
        await store.put_settings(instance_id, {}, if_match="*", create_only=True)


async def test_unconditional_writes_bump_the_version(store: Store, instance_id: str) -> None:
    for expected in (1, 2, 3):
        written = await store.put_settings(instance_id, {"n": expected}, if_match=None)
        assert written.version == expected


async def test_concurrent_writers_with_the_same_etag_exactly_one_wins(
    store: Store, instance_id: str
) -> None:
    first = await store.put_settings(instance_id, {"writer": -1}, if_match=None)

    async def write(writer: int) -> SettingsRecord | PreconditionFailedError:
        try:
            return await store.put_settings(instance_id, {"writer": writer}, if_match=first.etag)
        except PreconditionFailedError as failed:
            return failed

    results = await asyncio.gather(*(write(n) for n in range(20)))

    wins = [r for r in results if isinstance(r, SettingsRecord)]
    losses = [r for r in results if isinstance(r, PreconditionFailedError)]
    assert (len(wins), len(losses)) == (1, 19)
    assert {loss.current_etag for loss in losses} == {wins[0].etag}
    assert await store.get_settings(instance_id) == wins[0]


async def test_concurrent_unconditional_writers_each_get_a_version(
    store: Store, instance_id: str
) -> None:
    results = await asyncio.gather(
        *(store.put_settings(instance_id, {"n": n}, if_match=None) for n in range(20))
    )

    assert sorted(r.version for r in results) == list(range(1, 21))


async def test_instances_never_see_each_others_settings(
    store: Store, instance_id: str, other_instance_id: str
) -> None:
    mine = await store.put_settings(instance_id, {"owner": "a"}, if_match=None)

    assert await store.get_settings(other_instance_id) is None
    with pytest.raises(PreconditionFailedError):
        await store.put_settings(other_instance_id, {"owner": "b"}, if_match=mine.etag)
    with pytest.raises(PreconditionFailedError):
        await store.put_settings(other_instance_id, {"owner": "b"}, if_match="*")
    assert not await store.purge_settings(other_instance_id)

    theirs = await store.put_settings(other_instance_id, {"owner": "b"}, if_match=None)
    assert await store.purge_settings(other_instance_id)
    assert await store.get_settings(instance_id) == mine
    assert theirs.document == {"owner": "b"}


async def test_purge_removes_settings_and_a_new_write_starts_over(
    store: Store, instance_id: str
) -> None:
    await store.put_settings(instance_id, {"n": 1}, if_match=None)

    assert await store.purge_settings(instance_id)
    assert await store.get_settings(instance_id) is None
    assert not await store.purge_settings(instance_id)
    assert (await store.put_settings(instance_id, {"n": 2}, if_match=None)).version == 1


async def test_documents_must_be_json(store: Store, instance_id: str) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await store.put_settings(instance_id, {"n": float("nan")}, if_match=None)
