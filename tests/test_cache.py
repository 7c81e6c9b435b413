from __future__ import annotations

import asyncio

import pytest

from wixapp.breaker import CircuitBreaker
from wixapp.cache import Cache, Sealer, SingleFlight, TTLCache
from wixapp.testing import MovableClock


def test_entries_expire_at_their_own_deadline() -> None:
    clock = MovableClock()
    cache: TTLCache[str, int] = TTLCache(max_size=10, clock=clock)
    cache.set("a", 1, expires_at=1010)
    cache.set("b", 2, expires_at=1020)
    clock.now = 1015
    assert cache.get("a") is None
    assert cache.get("b") == 2
    assert len(cache) == 1


def test_an_already_expired_entry_is_not_stored() -> None:
    clock = MovableClock()
    cache: TTLCache[str, int] = TTLCache(max_size=10, clock=clock)
    cache.set("a", 1, expires_at=999)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_size_is_bounded_least_recently_used_first() -> None:
    cache: TTLCache[int, int] = TTLCache(max_size=3, clock=MovableClock())
    for key in range(3):
        cache.set(key, key, expires_at=2000)
    assert cache.get(0) == 0  # 0 is now the most recently used
    cache.set(3, 3, expires_at=2000)
    assert cache.get(1) is None
    assert [cache.get(k) for k in (0, 2, 3)] == [0, 2, 3]
    assert len(cache) == 3


def test_a_flood_of_keys_keeps_memory_flat() -> None:
    cache: TTLCache[int, int] = TTLCache(max_size=100, clock=MovableClock())
    for key in range(10_000):
        cache.set(key, key, expires_at=2000)
    assert len(cache) == 100


def test_expired_entries_are_dropped_as_new_ones_arrive() -> None:
    """One-off keys (tokens seen once) do not pile up as dead entries until max_size."""
    clock = MovableClock()
    cache: TTLCache[int, int] = TTLCache(max_size=100_000, clock=clock)
    for key in range(10_000):
        clock.now += 0.01
        cache.set(key, key, expires_at=clock.now + 30)  # a steady stream, 30 s each
    assert len(cache) <= 3001
    assert cache.get(9_999) == 9_999


def test_a_live_least_recently_used_entry_is_kept() -> None:
    clock = MovableClock()
    cache: TTLCache[str, int] = TTLCache(max_size=10, clock=clock)
    cache.set("long", 1, expires_at=5000)
    cache.set("short", 2, expires_at=1001)
    clock.now = 1002
    cache.set("new", 3, expires_at=2000)
    assert cache.get("long") == 1
    assert cache.get("new") == 3


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


def test_single_flight_discard_lets_the_next_call_start_afresh() -> None:
    async def scenario() -> None:
        flights: SingleFlight[str, str] = SingleFlight()
        release = asyncio.Event()

        async def old() -> str:
            await release.wait()
            return "old"

        async def new() -> str:
            return "new"

        first = asyncio.create_task(flights.run("k", old))
        await asyncio.sleep(0)
        flights.discard("k")
        assert await flights.run("k", new) == "new"
        release.set()
        assert await first == "old"
        assert len(flights) == 0

    asyncio.run(scenario())


# -- the circuit of the shared tier ---------------------------------------------------------


class Transitions:
    def __init__(self) -> None:
        self.seen: list[tuple[bool, str | None]] = []

    def __call__(self, up: bool, reason: str | None) -> None:
        self.seen.append((up, reason))


def test_a_burst_of_failures_does_not_open_the_circuit() -> None:
    clock, told = MovableClock(), Transitions()
    circuit = CircuitBreaker(failures=3, grace=1.0, clock=clock, on_change=told)
    for _ in range(10):  # an overloaded moment: many late answers at once
        circuit.failed("TimeoutError")
    assert circuit.up
    clock.now += 1.0  # still failing a second later, and no success since: an outage
    circuit.failed("TimeoutError")
    assert not circuit.up
    assert told.seen == [(False, "TimeoutError")]


def test_certain_evidence_opens_the_circuit_at_once() -> None:
    circuit = CircuitBreaker(clock=MovableClock())
    circuit.failed("ConnectionError: connection closed", certain=True)
    assert not circuit.up
    assert circuit.reason == "ConnectionError: connection closed"


def test_an_open_circuit_probes_once_per_backoff_growing_to_the_max() -> None:
    clock, told = MovableClock(), Transitions()
    circuit = CircuitBreaker(reset_after=0.5, max_reset_after=2.0, clock=clock, on_change=told)
    circuit.failed("down", certain=True)
    assert not circuit.allow()
    intervals = []
    for _ in range(4):
        start = clock.now
        while not circuit.allow():
            clock.now += 0.25
        intervals.append(clock.now - start)
        assert not circuit.allow()  # one probe per interval, not one per request
        circuit.failed("still down")
    assert intervals == [0.5, 1.0, 2.0, 2.0]
    circuit.succeeded()
    circuit.succeeded()
    assert circuit.up
    assert told.seen == [(False, "down"), (True, None)]  # transitions only


# -- sealing ------------------------------------------------------------------------------


def test_sealed_values_open_only_with_the_same_secret_and_context() -> None:
    sealer = Sealer("app-secret", purpose="tokens")
    sealed = sealer.seal(b"OauthNG.JWS.secret-token", context=b"instance-1")
    assert b"secret-token" not in sealed
    assert sealer.open(sealed, context=b"instance-1") == b"OauthNG.JWS.secret-token"
    assert sealer.seal(b"x", context=b"c") != sealer.seal(b"x", context=b"c")  # fresh nonce
    for opener, context, data in [
        (sealer, b"instance-2", sealed),
        (Sealer("another-secret", purpose="tokens"), b"instance-1", sealed),
        (Sealer("app-secret", purpose="other"), b"instance-1", sealed),
        (sealer, b"instance-1", sealed[:-1] + bytes([sealed[-1] ^ 1])),
        (sealer, b"instance-1", b"short"),
    ]:
        with pytest.raises(ValueError, match="does not open"):
            opener.open(data, context=context)


# -- the layered cache without a shared tier (the memory-only mode) -------------------------


class TextCodec:
    def encode(self, key: str, value: str) -> bytes:
        return value.encode()

    def decode(self, key: str, data: bytes) -> str:
        return data.decode()

    def tag(self, value: str) -> str:
        return value


def test_the_memory_only_cache_loads_once_and_keeps_until_expiry() -> None:
    clock = MovableClock()
    cache: Cache[str] = Cache(namespace="t", codec=TextCodec(), max_size=10, clock=clock)
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return f"v{calls}", clock.now + 60

    async def scenario() -> None:
        assert await asyncio.gather(*(cache.load("k", fetch) for _ in range(20))) == ["v1"] * 20
        clock.now += 59
        assert cache.peek("k") == "v1"
        clock.now += 1
        assert cache.peek("k") is None
        assert await cache.load("k", fetch) == "v2"

    asyncio.run(scenario())
    assert calls == 2


def test_a_stale_value_is_only_a_fallback() -> None:
    clock = MovableClock()
    cache: Cache[str] = Cache(
        namespace="t",
        codec=TextCodec(),
        max_size=10,
        clock=clock,
        fresh=lambda value: value != "stale",
    )

    async def stale() -> tuple[str, float]:
        return "stale", clock.now + 60

    async def scenario() -> None:
        assert await cache.load("k", stale) == "stale"
        assert cache.peek("k") is None
        assert await cache.fallback("k") == "stale"

    asyncio.run(scenario())


def test_forget_and_conditional_drop_in_memory_only_mode() -> None:
    clock = MovableClock()
    cache: Cache[str] = Cache(namespace="t", codec=TextCodec(), max_size=10, clock=clock)

    async def scenario() -> None:
        async def fetch() -> tuple[str, float]:
            return "token-1", clock.now + 60

        await cache.load("k", fetch)
        await cache.drop("k", only="token-0")  # another token: not the cached one
        assert cache.peek("k") == "token-1"
        await cache.drop("k", only="token-1")
        assert cache.peek("k") is None
        await cache.load("k", fetch)
        await cache.forget("k")  # needs no shared tier, nor even a running loop
        assert cache.peek("k") is None

    asyncio.run(scenario())


def test_a_value_fetched_across_a_forget_is_not_kept() -> None:
    clock = MovableClock()
    cache: Cache[str] = Cache(namespace="t", codec=TextCodec(), max_size=10, clock=clock)

    async def scenario() -> None:
        release = asyncio.Event()

        async def old() -> tuple[str, float]:
            await release.wait()
            return "old", clock.now + 60

        async def new() -> tuple[str, float]:
            return "new", clock.now + 60

        flight = asyncio.create_task(cache.load("k", old))
        await asyncio.sleep(0)
        await cache.forget("k")
        assert await cache.load("k", new) == "new"  # not joined to the old flight
        release.set()
        assert await flight == "old"
        assert cache.peek("k") == "new"

    asyncio.run(scenario())
