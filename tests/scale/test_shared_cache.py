"""The Redis tier: TTL rules, encryption at rest, distributed single-flight, invalidation.

Each ``WixApp`` opened by ``open_wix`` plays one process of a deployment: its own memory
tier and Redis connections, all on the local Redis under this test's own key prefix.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis

from wixapp.cache import Cache, RedisBackend, RedisOptions
from wixapp.cache.redis import entry_name
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import InvalidTokenError, UpstreamUnavailableError
from wixapp.identity.identifier import token_key
from wixapp.testing import InstallFactory, TokenFactory

from .conftest import OpenWix
from .harness import RedisServer, free_port

pytestmark = pytest.mark.redis


def lock_backend(url: str, prefix: str, *, lock_ttl: float) -> RedisBackend:
    """A process's Redis tier (one app scope) with the given lock TTL."""
    return RedisBackend(
        url, prefix=prefix, scope="app", secret="s", options=RedisOptions(lock_ttl=lock_ttl)
    )


def key(prefix: str, app: RegisteredApp, namespace: str, name: str) -> str:
    return entry_name(prefix, app.app_id, namespace, name)


def verdict_key(prefix: str, app: RegisteredApp, token: str) -> str:
    return key(prefix, app, "ti", token_key(token).hex())


# -- TTL rules ------------------------------------------------------------------------------


async def test_a_verdict_in_redis_never_outlives_its_token(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    short = wix_token(wix_instance.instance_id, lifetime=60)
    long = wix_token(wix_instance.instance_id, lifetime=14_400)
    async with open_wix() as wix:
        await wix.identify(short)
        await wix.identify(long)
    short_ttl = await raw_redis.pttl(verdict_key(redis_prefix, wix_registered_app, short))
    long_ttl = await raw_redis.pttl(verdict_key(redis_prefix, wix_registered_app, long))
    assert 55_000 < short_ttl <= (60 + 30) * 1000  # exp + leeway
    assert 295_000 < long_ttl <= 300_000  # max_age


async def test_the_token_itself_is_never_stored(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    token = wix_token(wix_instance.instance_id)
    async with open_wix() as wix:
        await wix.identify(token)
        await wix.instance(wix_instance.instance_id)
    names = [name async for name in raw_redis.scan_iter(match=f"{redis_prefix}:*")]
    cached = [name for name in names if b"{budget}:" not in name]
    assert len(cached) == 3  # a verdict, an app token, the instance data (and budgets)
    for name in cached:
        stored = (await raw_redis.get(name)) or b""
        for piece in [token, *token.split(".")[2:]]:
            assert piece.encode() not in name + stored
    for name in names:  # budget keys name an address or an instance, never a token
        assert token.split(".")[3].encode() not in name


async def test_a_negative_verdict_is_shared_briefly(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_emulator_state: EmulatorState,
) -> None:
    bogus = "OauthNG.JWS.aGVhZA.cGF5bG9hZA.bm90LXNpZ25lZA"
    async with open_wix(WIXAPP_INVALID_TOKEN_TTL=7) as a, open_wix() as b:
        for wix in (a, b):
            with pytest.raises(InvalidTokenError) as refused:
                await wix.identify(bogus)
            assert refused.value.code == "invalid_token"
    assert wix_emulator_state.calls()["token-info"] == 1  # b was told by Redis
    names = [name async for name in raw_redis.scan_iter(match=f"{redis_prefix}:*{{ti:*")]
    assert len(names) == 1
    assert 0 < await raw_redis.pttl(names[0]) <= 7_000


async def test_app_tokens_are_kept_until_the_refresh_margin_and_sealed(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
) -> None:
    async with open_wix(WIXAPP_APP_TOKEN_REFRESH_MARGIN=600) as wix:
        token = await wix.app_token(wix_instance.instance_id)
    name = key(redis_prefix, wix_registered_app, "at", wix_instance.instance_id)
    ttl = await raw_redis.pttl(name)
    assert (14_400 - 600 - 5) * 1000 < ttl <= (14_400 - 600) * 1000
    raw = await raw_redis.get(name)
    assert raw is not None
    assert token.access_token.encode() not in raw
    for piece in token.access_token.split("."):
        assert piece.encode() not in raw
    # Another process reads it back (decrypting) instead of minting one more.
    async with open_wix() as other:
        assert (await other.app_token(wix_instance.instance_id)) == token
    assert wix_emulator_state.calls()["token"] == 1


async def test_a_sealed_token_does_not_open_with_another_secret(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
) -> None:
    name = key(redis_prefix, wix_registered_app, "at", wix_instance.instance_id)
    async with open_wix() as wix:
        first = await wix.app_token(wix_instance.instance_id)
    # The same value moved under another instance's key does not open (bound to its key).
    async with open_wix() as wix:
        stolen = key(redis_prefix, wix_registered_app, "at", "another-instance")
        await raw_redis.set(stolen, await raw_redis.get(name), ex=60)  # no cross-slot COPY
        cache: Cache[object] = wix._elevation._tokens  # type: ignore[assignment]
        assert await cache.fallback("another-instance") is None
        assert (await wix.app_token(wix_instance.instance_id)) == first


async def test_instance_data_is_fresh_for_its_ttl_then_stale_from_redis(
    open_wix: OpenWix,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
) -> None:
    async with open_wix() as first:
        fresh = await first.instance(wix_instance.instance_id)
    wix_emulator_state.advance_clock(76)  # past the 60 s instance TTL and its grace
    wix_emulator_state.add_fault("instance", status=503)
    async with open_wix() as second:  # a process that never saw it: Redis has the stale copy
        stale = await second.instance(wix_instance.instance_id)
    assert stale.stale is True
    assert stale.data == fresh.data
    assert wix_emulator_state.calls()["instance"] == 2


# -- distributed single-flight --------------------------------------------------------------


async def test_one_token_info_call_across_processes(
    open_wix: OpenWix,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    wix_emulator_state.add_fault("token-info", latency=0.2)
    async with open_wix() as a, open_wix() as b, open_wix() as c:
        callers = await asyncio.gather(
            *(wix.identify(token) for _ in range(50) for wix in (a, b, c))
        )
        lookups = [w.metrics.shared_cache_lookups for w in (a, b, c)]
        leads = sum(each.labels("token_info", "lead")._value.get() for each in lookups)
        others = sum(
            each.labels("token_info", result)._value.get()
            for each in lookups
            for result in ("wait", "hit")
        )
    assert {caller.instance_id for caller in callers} == {wix_instance.instance_id}
    assert wix_emulator_state.calls()["token-info"] == 1
    assert (leads, others) == (1, 2)  # one process asked Wix; the two others were told


async def test_waiters_share_the_holders_outage(
    open_wix: OpenWix,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    wix_emulator_state.add_fault("token-info", latency=0.2, status=503)
    async with open_wix() as a, open_wix() as b:
        results = await asyncio.gather(
            *(wix.identify(token) for _ in range(10) for wix in (a, b)), return_exceptions=True
        )
        assert all(isinstance(r, UpstreamUnavailableError) for r in results)
        assert wix_emulator_state.calls()["token-info"] == 1
        wix_emulator_state.clear_faults()
        assert (await b.identify(token)).instance_id == wix_instance.instance_id  # not cached


async def test_when_the_holder_dies_its_lock_expires_and_a_waiter_proceeds(
    raw_redis: aioredis.Redis, redis_prefix: str, shared_redis_url: str
) -> None:
    backend = lock_backend(shared_redis_url, redis_prefix, lock_ttl=0.3)
    cache: Cache[str] = Cache(namespace="t", codec=_Text(), max_size=10, shared=backend)
    dead = await backend.acquire("t", "k")  # a holder that then dies: never renews, never writes
    assert dead is not None
    fetched = 0

    async def fetch() -> tuple[str, float]:
        nonlocal fetched
        fetched += 1
        return "value", time.time() + 60

    started = time.monotonic()
    try:
        async with asyncio.timeout(5):
            assert await cache.load("k", fetch) == "value"
    finally:
        await backend.aclose()
    waited = time.monotonic() - started
    assert fetched == 1
    assert 0.2 < waited < 2.0
    assert await raw_redis.exists(entry_name(redis_prefix, "app", "t", "k"))


async def test_the_holder_lets_go_even_if_a_renewal_swallows_its_cancellation(
    redis_prefix: str, shared_redis_url: str
) -> None:
    """A cancellation that lands inside the Redis client can be swallowed there (seen in a
    soak: the renewals went on forever, and the flight, its request and the worker's
    shutdown waited for them). The holder lets go at once, and the keeper ends after the
    renewal in progress."""
    backend = lock_backend(shared_redis_url, redis_prefix, lock_ttl=0.03)
    renewing = asyncio.Event()
    renewals = 0
    swallowed = False

    async def renewal_that_swallows_cancellation(**_: object) -> int:
        nonlocal renewals, swallowed
        renewals += 1
        renewing.set()
        try:
            await asyncio.get_running_loop().create_future()  # a reply that never comes
        except asyncio.CancelledError:
            if swallowed:  # once is enough (and lets the test clean up if it fails)
                raise
            swallowed = True  # what a client's internals may do
        return 1

    async def hold_until_a_renewal_is_in_progress() -> None:
        lock = await backend.acquire("t", "k")
        assert lock is not None
        async with backend.hold(lock):
            await renewing.wait()

    backend._renew = renewal_that_swallows_cancellation  # type: ignore[assignment]
    holder = asyncio.create_task(hold_until_a_renewal_is_in_progress())
    # Only a guard against hanging the suite: the holder lets go within milliseconds.
    try:
        done, _ = await asyncio.wait([holder], timeout=5)
        assert holder in done, "the holder still waits for a keeper that renews forever"
        holder.result()
        keepers = set(backend._tasks)
        if keepers:
            _, still_running = await asyncio.wait(keepers, timeout=5)
            assert not still_running, "a keeper renews forever"
        assert renewals == 1
    finally:
        await backend.aclose()


async def test_a_slow_holder_keeps_its_lock_alive(redis_prefix: str, shared_redis_url: str) -> None:
    first = lock_backend(shared_redis_url, redis_prefix, lock_ttl=0.3)
    second = lock_backend(shared_redis_url, redis_prefix, lock_ttl=0.3)
    caches: list[Cache[str]] = [
        Cache(namespace="t", codec=_Text(), max_size=10, shared=backend)
        for backend in (first, second)
    ]
    fetched = 0

    async def slow_fetch() -> tuple[str, float]:
        nonlocal fetched
        fetched += 1
        await asyncio.sleep(1.0)  # three lock TTLs: the holder renews it meanwhile
        return "value", time.time() + 60

    try:
        leader = asyncio.create_task(caches[0].load("k", slow_fetch))
        await asyncio.sleep(0.05)
        assert await caches[1].load("k", slow_fetch) == "value"
        assert await leader == "value"
    finally:
        await first.aclose()
        await second.aclose()
    assert fetched == 1


async def test_an_invalidation_during_a_flight_keeps_the_old_answer_out(
    redis_prefix: str, raw_redis: aioredis.Redis, shared_redis_url: str
) -> None:
    backend = RedisBackend(shared_redis_url, prefix=redis_prefix, scope="app", secret="s")
    cache: Cache[str] = Cache(namespace="t", codec=_Text(), max_size=10, shared=backend)
    started, release = asyncio.Event(), asyncio.Event()

    async def fetch() -> tuple[str, float]:
        started.set()  # the flight holds the key's lock and asked upstream
        await release.wait()
        return "old", time.time() + 60

    try:
        flight = asyncio.create_task(cache.load("k", fetch))
        async with asyncio.timeout(5):
            await started.wait()
        await cache.forget("k")  # e.g. a plan change, while the old answer is on its way
        release.set()
        assert await flight == "old"  # its callers get it, but nobody keeps it
        assert cache.peek("k") is None
        assert not await raw_redis.exists(entry_name(redis_prefix, "app", "t", "k"))
    finally:
        await backend.aclose()


# -- invalidation reaches every process -----------------------------------------------------


async def test_forget_instance_reaches_every_process(
    open_wix: OpenWix,
    wix_install: InstallFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    installed = wix_install(is_free=True)
    async with open_wix() as a, open_wix() as b:
        await a.instance(installed.instance_id)
        await b.instance(installed.instance_id)
        wix_emulator_state.set_plan(
            installed.instance_id, package_name="pro", billing_cycle="MONTHLY"
        )
        assert (await b.instance(installed.instance_id)).data.instance.is_free is True  # cached
        await a.forget_instance(installed.instance_id)  # returns once Redis relayed it
        deadline = time.monotonic() + 2
        while b._elevation._instances.peek(installed.instance_id) is not None:
            assert time.monotonic() < deadline, "b never dropped its memory copy"
            await asyncio.sleep(0.005)
        assert (await b.instance(installed.instance_id)).data.instance.is_free is False
        assert (await a.instance(installed.instance_id)).data.instance.is_free is False
    calls = wix_emulator_state.calls()
    assert (calls["token"], calls["instance"]) == (2, 2)  # once before, once after


async def test_forget_instance_works_without_awaiting(
    open_wix: OpenWix, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    async with open_wix() as a:
        await a.instance(wix_instance.instance_id)
        a.forget_instance(wix_instance.instance_id)  # fire and forget, as a sync caller would
        await a.instance(wix_instance.instance_id)
    assert wix_emulator_state.calls()["instance"] == 2


# -- the hot path and a dead Redis ----------------------------------------------------------


class _NoRedis:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the memory hit path used Redis ({name})")


async def test_a_memory_hit_never_touches_redis(
    open_wix: OpenWix, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    token = wix_token(wix_instance.instance_id)
    async with open_wix() as wix:
        await wix.identify(token)
        await wix.instance(wix_instance.instance_id)
        assert wix._shared is not None
        real, wix._shared._client = wix._shared._client, _NoRedis()  # type: ignore[assignment]
        try:
            for _ in range(100):
                await wix.identify(token)
                await wix.instance(wix_instance.instance_id)
        finally:
            wix._shared._client = real


async def test_a_dead_redis_degrades_quietly_and_quickly(
    open_wix: OpenWix,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    caplog: pytest.LogCaptureFixture,
    shared_redis_url: str,
) -> None:
    caplog.set_level(logging.INFO, logger="wixapp.cache")
    scheme = shared_redis_url.partition("://")[0]
    nowhere = f"{scheme}://127.0.0.1:{free_port()}"  # nothing listens there
    tokens = [wix_token(wix_instance.instance_id) for _ in range(20)]
    async with open_wix(WIXAPP_REDIS_URL=nowhere) as wix:
        started = time.monotonic()
        for token in tokens:
            assert (await wix.identify(token)).instance_id == wix_instance.instance_id
            await wix.identify(token)  # memory
        await wix.instance(wix_instance.instance_id)
        elapsed = time.monotonic() - started
        status = await wix.shared_cache_status()
        text = wix.metrics.render().decode()
    assert elapsed < 2.0
    assert status is not None
    assert status.startswith("degraded (")
    assert wix_emulator_state.calls()["token-info"] == 20
    assert 'wixapp_shared_cache_up{backend="redis"} 0.0' in text
    assert "wixapp_shared_cache_errors_total" in text
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once per transition, not per request


async def test_an_invalidation_made_while_redis_is_down_is_sent_when_it_is_back(
    private_redis: RedisServer,
    open_local_wix: OpenWix,
    wix_install: InstallFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    installed = wix_install(is_free=True)
    options = {"WIXAPP_REDIS_URL": private_redis.url}
    async with open_local_wix(**options) as a, open_local_wix(**options) as b:
        await a.instance(installed.instance_id)
        await b.instance(installed.instance_id)
        wix_emulator_state.set_plan(
            installed.instance_id, package_name="pro", billing_cycle="YEARLY"
        )
        private_redis.stop(save=True)  # an outage that keeps Redis's data
        await a.forget_instance(installed.instance_id)  # cannot reach Redis: kept for later
        assert (await b.instance(installed.instance_id)).data.instance.is_free is True
        private_redis.start()
        deadline = time.monotonic() + 15
        while (await b.instance(installed.instance_id)).data.instance.is_free:
            assert time.monotonic() < deadline, "the invalidation never reached b"
            await asyncio.sleep(0.05)
        assert await a.shared_cache_status() == "ok"
        assert await b.shared_cache_status() == "ok"
    assert wix_emulator_state.calls()["instance"] == 2


class _Text:
    def encode(self, key: str, value: str) -> bytes:
        return value.encode()

    def decode(self, key: str, data: bytes) -> str:
        return data.decode()

    def tag(self, value: str) -> str:
        return ""


async def test_one_background_refresh_per_key_across_three_processes(
    open_wix: OpenWix, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    async with open_wix() as first, open_wix() as second, open_wix() as third:
        apps = (first, second, third)

        async def read_all() -> set[float]:
            reads = (app.instance(wix_instance.instance_id) for app in apps for _ in range(5))
            served = {answer.fetched_at for answer in await asyncio.gather(*reads)}
            await asyncio.gather(*(app._elevation.settled() for app in apps))
            return served

        fetched = await read_all()
        wix_emulator_state.advance_clock(62)  # past the 60 s TTL, in its grace
        served_in_window = await read_all()
        for _ in apps:  # a process that finds the lock taken picks the new copy up next time
            renewed = await read_all()

    assert served_in_window == fetched  # nobody waited for Wix
    assert len(renewed) == 1
    assert renewed != fetched
    assert wix_emulator_state.calls()["instance"] == 2  # the first read, one refresh for all
