from __future__ import annotations

import asyncio

import pytest

from wixapp.cache import SingleFlight, TTLCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_at_their_own_deadline() -> None:
    clock = FakeClock()
    cache: TTLCache[str, int] = TTLCache(max_size=10, clock=clock)
    cache.set("a", 1, expires_at=1010)
    cache.set("b", 2, expires_at=1020)
    clock.now = 1015
    assert cache.get("a") is None
    assert cache.get("b") == 2
    assert len(cache) == 1


def test_an_already_expired_entry_is_not_stored() -> None:
    clock = FakeClock()
    cache: TTLCache[str, int] = TTLCache(max_size=10, clock=clock)
    cache.set("a", 1, expires_at=999)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_size_is_bounded_least_recently_used_first() -> None:
    cache: TTLCache[int, int] = TTLCache(max_size=3, clock=FakeClock())
    for key in range(3):
        cache.set(key, key, expires_at=2000)
    assert cache.get(0) == 0  # 0 is now the most recently used
    cache.set(3, 3, expires_at=2000)
    assert cache.get(1) is None
    assert [cache.get(k) for k in (0, 2, 3)] == [0, 2, 3]
    assert len(cache) == 3


def test_a_flood_of_keys_keeps_memory_flat() -> None:
    cache: TTLCache[int, int] = TTLCache(max_size=100, clock=FakeClock())
    for key in range(10_000):
        cache.set(key, key, expires_at=2000)
    assert len(cache) == 100


def test_zero_size_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        TTLCache(max_size=0)


async def test_single_flight_coalesces_concurrent_calls() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flights.run("k", work)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 50
    assert calls == 1
    assert len(flights) == 0


async def test_single_flight_shares_a_failure_then_tries_again() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        *(flights.run("k", failing) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert attempts == 1
    with pytest.raises(RuntimeError):
        await flights.run("k", failing)
    assert attempts == 2


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str, str] = SingleFlight()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    first = asyncio.create_task(flights.run("k", slow))
    second = asyncio.create_task(flights.run("k", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
