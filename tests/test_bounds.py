"""Every structure a worker keeps per token, address or instance has a configured bound, so
a flood of distinct keys cannot grow memory (figures per 10 000 entries: ``make bounds``)."""

from __future__ import annotations

from datetime import datetime

from wixapp.identity.removal import RemovedInstances
from wixapp.server.seen import LastSeenRecorder


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_last_seen_notes_are_bounded_and_forgotten_after_their_interval() -> None:
    clock = Clock()
    flushed: list[int] = []

    async def flush(batch: dict[str, tuple[str | None, datetime | float]]) -> None:
        flushed.append(len(batch))

    seen = LastSeenRecorder(flush, interval=60, clock=clock, max_size=100)
    for index in range(5000):
        seen.note(f"instance-{index}", None)
    assert len(seen) <= 200  # written notes and pending ones, 100 each at most
    await seen.flush()
    assert flushed == [100]  # the newest
    clock.now += 61
    await seen.flush()
    assert len(seen) == 0  # past the interval nothing needs remembering


def test_removed_instances_are_bounded_and_expire() -> None:
    clock = Clock()
    removed = RemovedInstances(horizon=300, max_size=100, clock=clock)
    for index in range(5000):
        removed.mark(f"instance-{index}")
    assert len(removed) == 100
    assert removed.is_removed("instance-4999")  # the most recent are kept
    assert not removed.is_removed("instance-0")
    clock.now += 301
    assert not removed.is_removed("instance-4999")
