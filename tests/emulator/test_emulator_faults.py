"""Injected faults: each kind, the share and count of calls they hit, and where."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from emulator_testkit import World, app_token, elevate, get_instance, token_info

from wixapp.emulator import EmulatorControl, EmulatorError, EmulatorState, FaultSpec


async def test_status_with_retry_after(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", status=503, retry_after=7)

    response = await elevate(wix, world.app, world.instance_id)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"message": "", "details": {}}


async def test_client_error_status_uses_the_envelope(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", status=429)

    response = await elevate(wix, world.app, world.instance_id)

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.json()["details"]["applicationError"]["code"] == "RESOURCE_EXHAUSTED"


async def test_count_limits_the_hits(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", status=500, count=2)

    statuses = [(await elevate(wix, world.app, world.instance_id)).status_code for _ in range(4)]

    assert statuses == [500, 500, 200, 200]


async def test_share_spreads_the_hits_evenly(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", status=502, share=0.5)

    statuses = [(await elevate(wix, world.app, world.instance_id)).status_code for _ in range(6)]

    assert statuses == [200, 502, 200, 502, 200, 502]


async def test_share_and_count_together(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", status=502, share=0.25, count=1)

    statuses = [(await elevate(wix, world.app, world.instance_id)).status_code for _ in range(8)]

    assert statuses == [200, 200, 200, 502, 200, 200, 200, 200]


async def test_latency(wix: httpx.AsyncClient, state: EmulatorState, world: World) -> None:
    state.add_fault("token-info", latency=0.2)
    token = state.mint_token(world.instance_id).token

    started = time.perf_counter()
    response = await token_info(wix, token)

    assert time.perf_counter() - started >= 0.2
    assert response.status_code == 200


async def test_hang_outlasts_the_client(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("instance", hang=True)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await get_instance(wix, "whatever")


async def test_clearing_faults_releases_a_hung_call(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("instance", hang=True)
    call = asyncio.create_task(get_instance(wix, "whatever"))
    await asyncio.sleep(0.1)
    assert not call.done()

    state.clear_faults()

    async with asyncio.timeout(1.0):
        response = await call
    assert response.status_code == 504


async def test_hang_ends_after_hang_seconds(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.hang_seconds = 0.1
    state.add_fault("token", hang=True)

    async with asyncio.timeout(1.0):
        response = await elevate(wix, world.app, world.instance_id)

    assert response.status_code == 504


async def test_malformed_body(wix: httpx.AsyncClient, state: EmulatorState, world: World) -> None:
    state.add_fault("token", malformed=True)

    response = await elevate(wix, world.app, world.instance_id)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_malformed_body_with_a_status(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token-info", malformed=True, status=502)

    response = await token_info(wix, "x")

    assert response.status_code == 502
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_reset_drops_the_connection(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", reset=True, count=1)

    with pytest.raises(httpx.TransportError):
        await elevate(wix, world.app, world.instance_id)

    assert (await elevate(wix, world.app, world.instance_id)).status_code == 200
    assert state.calls()["token"] == 2


async def test_reset_wins_over_a_later_status(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token-info", reset=True)
    state.add_fault("token-info", status=503)

    with pytest.raises(httpx.TransportError):
        await token_info(wix, "x")


async def test_fault_targets_one_endpoint(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("instance", status=503)

    token = await app_token(wix, world.app, world.instance_id)

    assert (await token_info(wix, token)).status_code == 200
    assert (await get_instance(wix, token)).status_code == 503


async def test_star_targets_every_endpoint(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("*", status=503)

    assert (await elevate(wix, world.app, world.instance_id)).status_code == 503
    assert (await token_info(wix, "x")).status_code == 503
    assert (await get_instance(wix, "x")).status_code == 503


async def test_clear_faults(wix: httpx.AsyncClient, state: EmulatorState, world: World) -> None:
    state.add_fault("*", status=503)

    state.clear_faults()

    assert (await elevate(wix, world.app, world.instance_id)).status_code == 200


async def test_latency_adds_to_a_later_error(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.add_fault("token", latency=0.1)
    state.add_fault("*", status=500)

    started = time.perf_counter()
    response = await elevate(wix, world.app, world.instance_id)

    assert time.perf_counter() - started >= 0.1
    assert response.status_code == 500


async def test_faults_through_the_control_api(
    wix: httpx.AsyncClient, control: EmulatorControl, world: World
) -> None:
    assert await control.add_fault(FaultSpec(endpoint="token", reset=True, count=1))
    with pytest.raises(httpx.TransportError):
        await elevate(wix, world.app, world.instance_id)
    fault_id = await control.add_fault(
        FaultSpec(endpoint="token", status=503, retry_after=2.5, count=1)
    )

    response = await elevate(wix, world.app, world.instance_id)

    assert fault_id
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"  # rounded up, never early
    assert (await elevate(wix, world.app, world.instance_id)).status_code == 200
    await control.add_fault(FaultSpec(endpoint="token", status=503))
    await control.clear_faults()
    assert (await elevate(wix, world.app, world.instance_id)).status_code == 200


@pytest.mark.parametrize(
    "bad",
    [{"endpoint": "nope"}, {"share": 0.0}, {"share": 1.5}, {"count": 0}, {"status": 200}],
)
async def test_bad_fault_is_refused(
    state: EmulatorState, control_http: httpx.AsyncClient, bad: dict[str, object]
) -> None:
    with pytest.raises(EmulatorError):
        state.add_fault(**bad)  # type: ignore[arg-type]
    refused = await control_http.post("/_emulator/faults", json=bad)  # as any client sends it
    assert refused.status_code == 400
    assert refused.json()["error"] == "emulator_invalid_body"
    assert state.faults.active() == {}
