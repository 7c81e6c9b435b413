"""Acting as the app for an instance: ``elevated_client`` / ``ElevatedAuth`` and instance data,
against the in-process emulator (which counts every call)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from wixapp import WixApp
from wixapp.config import Settings
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.models import AppInstance
from wixapp.testing import EmulatorClock

INSTANCE_PATH = "/apps/v1/instance"


@pytest.fixture
async def wix(wix_settings: Settings, wix_transport: httpx.ASGITransport) -> AsyncIterator[WixApp]:
    async with WixApp(wix_settings, transport=wix_transport) as app:
        yield app


async def test_a_401_mints_one_new_app_token_and_retries_once(
    wix: WixApp, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    async with wix.elevated_client(wix_instance.instance_id) as client:
        assert (await client.get(INSTANCE_PATH)).status_code == 200
        refused = await wix.app_token(wix_instance.instance_id)
        wix_emulator_state.revoke_token(refused.access_token)  # Wix stops honouring it

        answer = await client.get(INSTANCE_PATH)

    assert answer.status_code == 200
    assert answer.json()["instance"]["instanceId"] == wix_instance.instance_id
    assert wix_emulator_state.calls()["token"] == 2  # the first token, then exactly one more
    assert wix_emulator_state.calls()["instance"] == 3  # ok, refused, retried
    assert (await wix.app_token(wix_instance.instance_id)) != refused


async def test_a_second_401_is_answered_not_retried_again(
    wix: WixApp, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    wix_emulator_state.add_fault("instance", status=401, count=2)
    async with wix.elevated_client(wix_instance.instance_id) as client:
        answer = await client.get(INSTANCE_PATH)
    assert answer.status_code == 401
    assert wix_emulator_state.calls()["instance"] == 2
    assert wix_emulator_state.calls()["token"] == 2


async def test_concurrent_requests_refused_together_share_one_new_token(
    wix: WixApp, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    async with wix.elevated_client(wix_instance.instance_id) as client:
        assert (await client.get(INSTANCE_PATH)).status_code == 200
        refused = await wix.app_token(wix_instance.instance_id)
        wix_emulator_state.revoke_token(refused.access_token)

        answers = await asyncio.gather(*(client.get(INSTANCE_PATH) for _ in range(20)))

    assert {answer.status_code for answer in answers} == {200}
    assert wix_emulator_state.calls()["token"] == 2  # 20 refusals, one mint


async def test_instance_reads_use_the_same_renewal(
    wix: WixApp, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    first = await wix.app_token(wix_instance.instance_id)
    wix_emulator_state.revoke_token(first.access_token)

    data = await wix.instance(wix_instance.instance_id)

    assert data.data.instance.instance_id == wix_instance.instance_id
    assert wix_emulator_state.calls()["token"] == 2


async def test_instance_fetches_are_reported_only_when_wix_is_asked(
    wix: WixApp, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    fetched: list[tuple[str, AppInstance]] = []
    wix.on_instance_fetched(lambda instance_id, data: fetched.append((instance_id, data)))

    for _ in range(3):
        await wix.instance(wix_instance.instance_id)

    assert [instance_id for instance_id, _ in fetched] == [wix_instance.instance_id]
    assert fetched[0][1].site.url == wix_emulator_state.site(wix_instance.site_id).url


async def test_stale_instance_data_is_logged_once_per_change(
    wix_settings: Settings,
    wix_transport: httpx.ASGITransport,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = wix_settings.model_copy(update={"instance_cache_ttl": 10.0, "http_retries": 0})
    clock = EmulatorClock(wix_emulator_state)
    async with WixApp(settings, transport=wix_transport, clock=clock) as wix:
        await wix.instance(wix_instance.instance_id)
        clock.advance(13)  # past the TTL and its grace: no longer usable
        wix_emulator_state.add_fault("instance", status=503)
        with caplog.at_level(logging.INFO, logger="wixapp.identity.elevation"):
            answers = [await wix.instance(wix_instance.instance_id) for _ in range(3)]
            wix_emulator_state.clear_faults()
            await wix.instance(wix_instance.instance_id)
            await wix.instance(wix_instance.instance_id)

    assert all(answer.stale for answer in answers)
    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name == "wixapp.identity.elevation"  # the client logs each 503 as well
    ]
    assert messages == [
        "serving stale instance data: Wix is unavailable",
        "Wix answers again: instance data is fresh",
    ]
