"""Last-seen across processes: with Redis, one write per instance per interval in all.

Each ``WixApp`` opened by ``open_wix`` plays one process, with its own LastSeenRecorder; the
recorders share an injected clock, and their writes land in one list, as in one database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime

import pytest

from wixapp.server.seen import LastSeenRecorder

from .conftest import OpenWix
from .harness import free_port

pytestmark = pytest.mark.redis

INTERVAL = 60.0
INSTANCES = [f"instance-{index}" for index in range(5)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_020.0  # 20 s into a window of 60 s

    def __call__(self) -> float:
        return self.now


class Database:
    """The rows written, as (instance, the time noted), and a switch to fail the writes."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, float]] = []
        self.down = False

    async def touch_many(self, seen: dict[str, tuple[str | None, datetime | float]]) -> None:
        if self.down:
            raise ConnectionError("the database is away")
        self.writes += [(instance, float(at)) for instance, (_site, at) in seen.items()]  # type: ignore[arg-type]


OpenRecorders = Callable[..., AbstractAsyncContextManager[list[LastSeenRecorder]]]


@pytest.fixture
def open_recorders(open_wix: OpenWix) -> OpenRecorders:
    @asynccontextmanager
    async def open_them(
        count: int, database: Database, clock: Clock, **settings: object
    ) -> AsyncIterator[list[LastSeenRecorder]]:
        async with AsyncExitStack() as stack:
            recorders = []
            for _ in range(count):
                wix = await stack.enter_async_context(open_wix(**settings))
                recorders.append(
                    LastSeenRecorder(
                        database.touch_many,
                        interval=INTERVAL,
                        clock=clock,
                        claims=wix.interval_claims("seen", INTERVAL),
                    )
                )
            yield recorders

    return open_them


async def see_everything(recorders: list[LastSeenRecorder]) -> None:
    for recorder in recorders:
        for instance in INSTANCES:
            recorder.note(instance, None)
    for recorder in recorders:
        await recorder.flush()


def written(database: Database) -> list[str]:
    return sorted(instance for instance, _at in database.writes)


async def test_three_processes_write_each_instance_once_per_interval(
    open_recorders: OpenRecorders,
) -> None:
    database, clock = Database(), Clock()
    async with open_recorders(3, database, clock) as recorders:
        await see_everything(recorders)
        assert written(database) == INSTANCES  # once each, not three times

        clock.now += INTERVAL / 2  # the same window: nobody writes again
        await see_everything(recorders)
        assert written(database) == INSTANCES

        clock.now += INTERVAL  # the next window: once each again
        await see_everything(recorders)
        assert written(database) == sorted(INSTANCES * 2)
        assert {at for _instance, at in database.writes[-len(INSTANCES) :]} == {clock.now}


async def test_a_claimed_instance_whose_write_failed_is_written_by_its_claimer(
    open_recorders: OpenRecorders,
) -> None:
    database, clock = Database(), Clock()
    async with open_recorders(2, database, clock) as (first, second):
        database.down = True
        first.note("instance-0", None)
        await first.flush()  # claimed, not written
        second.note("instance-0", None)
        await second.flush()  # the claim is the first's
        database.down = False
        await second.flush()
        assert database.writes == []
        await first.flush()  # retried without claiming again
        assert written(database) == ["instance-0"]


async def test_without_redis_each_process_writes_its_own(
    open_recorders: OpenRecorders,
) -> None:
    database, clock = Database(), Clock()
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # no Redis listens there
    async with open_recorders(3, database, clock, WIXAPP_REDIS_URL=nobody) as recorders:
        await see_everything(recorders)
    assert written(database) == sorted(INSTANCES * 3)  # as before claims: per process


async def test_at_shutdown_the_notes_are_written_without_asking_redis(
    open_recorders: OpenRecorders,
) -> None:
    database, clock = Database(), Clock()
    async with open_recorders(2, database, clock) as recorders:
        for recorder in recorders:
            recorder.note("instance-0", None)
            await recorder.stop()  # exit never waits on Redis: a note may be written twice
    assert written(database) == ["instance-0", "instance-0"]
