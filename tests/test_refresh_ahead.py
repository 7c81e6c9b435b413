"""Refresh ahead: a usable copy is served at once while one background call per key renews
it; callers wait for Wix only when no usable copy is left. Instance data is refreshed once
its TTL has passed, in the grace after it (stale-while-revalidate: Wix is asked no more than
once per TTL); app tokens and per-instance caches in the last quarter of their life. Time is
the emulator's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from wixapp import WixApp
from wixapp.cache import InstanceCache
from wixapp.config import Settings
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.testing import EmulatorClock

TTL = 60.0  # the instance data's TTL; the grace after it (a quarter) is the refresh window


@pytest.fixture
async def wix(
    wix_settings: Settings, wix_transport: httpx.ASGITransport, wix_clock: EmulatorClock
) -> AsyncIterator[WixApp]:
    settings = wix_settings.model_copy(update={"instance_cache_ttl": TTL, "http_retries": 0})
    async with WixApp(settings, transport=wix_transport, clock=wix_clock) as app:
        yield app


async def _yield_to_background() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_callers_get_the_copy_while_the_refresh_hangs(
    wix: WixApp,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_clock: EmulatorClock,
) -> None:
    first = await wix.instance(wix_instance.instance_id)
    wix_clock.advance(TTL * 1.05)  # past the TTL, in the grace: the copy is still usable
    wix_emulator_state.add_fault("instance", hang=True)

    answers = await asyncio.gather(*(wix.instance(wix_instance.instance_id) for _ in range(20)))
    await _yield_to_background()

    assert {answer.fetched_at for answer in answers} == {first.fetched_at}
    assert not any(answer.stale for answer in answers)
    assert wix_emulator_state.calls()["instance"] == 2  # the first read, then one refresh


async def test_one_refresh_per_key_then_the_new_copy(
    wix: WixApp,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_clock: EmulatorClock,
) -> None:
    first = await wix.instance(wix_instance.instance_id)
    assert (await wix.instance(wix_instance.instance_id)).fetched_at == first.fetched_at
    wix_clock.advance(TTL * 0.99)  # within the TTL: nothing is refreshed, however close
    await wix.instance(wix_instance.instance_id)
    await _yield_to_background()
    assert wix_emulator_state.calls()["instance"] == 1

    wix_clock.advance(TTL * 0.1)
    await asyncio.gather(*(wix.instance(wix_instance.instance_id) for _ in range(20)))
    await wix._elevation.settled()

    assert wix_emulator_state.calls()["instance"] == 2
    renewed = await wix.instance(wix_instance.instance_id)
    assert renewed.fetched_at > first.fetched_at
    assert wix_emulator_state.calls()["instance"] == 2


async def test_a_steady_reader_asks_wix_no_more_than_once_per_ttl(
    wix: WixApp,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_clock: EmulatorClock,
) -> None:
    """Reads every twentieth of the TTL for ten TTLs: one read from Wix per TTL at most (a
    refresh ahead of the TTL would make about 13), and every answer fresh from a copy."""
    first = await wix.instance(wix_instance.instance_id)
    answers, ages = [], []
    for _ in range(200):
        wix_clock.advance(TTL / 20)
        answers.append(await wix.instance(wix_instance.instance_id))
        ages.append(wix_clock() - answers[-1].fetched_at)
        await wix._elevation.settled()

    assert 10 <= wix_emulator_state.calls()["instance"] <= 11  # the first read, then ≤ 1 a TTL
    assert not any(answer.stale for answer in answers)
    assert max(ages) <= TTL * 1.25  # never older than the TTL and its grace
    assert first.fetched_at < answers[-1].fetched_at


async def test_a_failed_refresh_keeps_the_copy_and_stale_on_error_stays(
    wix: WixApp,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_clock: EmulatorClock,
) -> None:
    first = await wix.instance(wix_instance.instance_id)
    wix_clock.advance(TTL * 1.05)
    wix_emulator_state.add_fault("instance", status=503)

    answer = await wix.instance(wix_instance.instance_id)
    await wix._elevation.settled()
    again = await wix.instance(wix_instance.instance_id)  # the failed key rests a moment
    await _yield_to_background()

    assert answer.fetched_at == again.fetched_at == first.fetched_at
    assert not again.stale
    assert wix_emulator_state.calls()["instance"] == 2

    wix_clock.advance(TTL * 0.25)  # past the grace: the caller asks Wix, then falls back
    stale = await wix.instance(wix_instance.instance_id)
    assert stale.stale
    assert stale.fetched_at == first.fetched_at


async def test_the_app_token_is_minted_again_before_it_expires(
    wix: WixApp,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_clock: EmulatorClock,
) -> None:
    first = await wix.app_token(wix_instance.instance_id)
    wix_clock.advance(first.expires_in * 0.8)  # inside its last quarter before the margin

    served = await asyncio.gather(*(wix.app_token(wix_instance.instance_id) for _ in range(10)))
    await wix._elevation.settled()

    assert {token.access_token for token in served} == {first.access_token}
    assert wix_emulator_state.calls()["token"] == 2
    renewed = await wix.app_token(wix_instance.instance_id)
    assert renewed.access_token != first.access_token


class _TextCodec:
    def encode(self, key: str, value: str) -> bytes:
        return value.encode()

    def decode(self, key: str, data: bytes) -> str:
        return data.decode()

    def tag(self, value: str) -> str:
        return ""


async def test_an_instance_cache_reloads_in_the_background(wix_clock: EmulatorClock) -> None:
    loads: list[str] = []
    release = asyncio.Event()

    async def load(instance_id: str) -> str:
        loads.append(instance_id)
        if len(loads) > 1:
            await release.wait()  # the reload takes as long as the test wants
        return f"v{len(loads)}"

    cache: InstanceCache[str] = InstanceCache(
        namespace="t", load=load, codec=_TextCodec(), ttl=10.0, clock=wix_clock
    )
    assert await cache.get("i-1") == "v1"
    wix_clock.advance(8)

    assert await asyncio.gather(*(cache.get("i-1") for _ in range(10))) == ["v1"] * 10
    release.set()
    await cache.settled()

    assert await cache.get("i-1") == "v2"
    assert loads == ["i-1", "i-1"]
    cache.close()
