"""Wix's rate limit is on wherever users meet the emulator: the pytest plugin's emulator,
``wixapp emulator`` and the demo; each has a switch that turns it off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation

LIMIT = 200


async def token_info_calls(
    transport: httpx.AsyncBaseTransport, token: str, count: int
) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=transport, base_url="https://www.wixapis.com") as wix:
        return [await wix.post("/oauth2/token-info", json={"token": token}) for _ in range(count)]


async def test_the_plugins_emulator_throttles_the_201st_call_in_a_minute(
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token

    responses = await token_info_calls(wix_transport, token, LIMIT + 1)

    assert [r.status_code for r in responses[:LIMIT]] == [200] * LIMIT
    refused = responses[LIMIT]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["details"]["applicationError"]["code"] == "RESOURCE_EXHAUSTED"

    wix_emulator_state.advance_clock(60)  # a minute later the window has moved on

    assert (await token_info_calls(wix_transport, token, 1))[0].status_code == 200


async def test_other_instances_are_not_throttled(
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
    wix_install: object,
    wix_instance: Installation,
) -> None:
    busy = wix_emulator_state.mint_token(wix_instance.instance_id).token
    other = wix_install()  # type: ignore[operator]
    quiet = wix_emulator_state.mint_token(other.instance_id).token

    await token_info_calls(wix_transport, busy, LIMIT + 1)

    assert (await token_info_calls(wix_transport, quiet, 1))[0].status_code == 200


@pytest.mark.parametrize("wix_rate_limit", [False])
async def test_the_switch_turns_it_off(
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token

    responses = await token_info_calls(wix_transport, token, LIMIT + 1)

    assert {r.status_code for r in responses} == {200}


# ---- wixapp emulator, as a user runs it


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """``wixapp emulator --port 0`` in a subprocess; yields its URL, stops it by its PID."""
    extra: list[str] = list(request.param)
    command = [sys.executable, "-m", "wixapp", "emulator", "--port", "0", *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # uvicorn says where it listens, on stderr
            found = re.search(r"running on (http://\S+)", line, re.IGNORECASE)
            if found:
                yield found.group(1)
                break
        else:
            pytest.fail("wixapp emulator exited before it served")
    finally:
        process.terminate()
        process.communicate(timeout=10)  # drains and closes the pipe


async def throttled_after(url: str) -> int | None:
    """Set up an app and one token, then call token-info until refused: the call count."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        app = (await http.post("/_emulator/apps", json={})).json()
        site = (await http.post("/_emulator/sites", json={})).json()
        installed = await http.post(
            "/_emulator/installations", json={"appId": app["appId"], "siteId": site["siteId"]}
        )
        minted = await http.post(
            "/_emulator/tokens", json={"instanceId": installed.json()["instanceId"]}
        )
        token = minted.json()["token"]
        for number in range(1, LIMIT + 2):
            response = await http.post("/oauth2/token-info", json={"token": token})
            if response.status_code == 429:
                assert response.headers["Retry-After"]
                return number
    return None


@pytest.mark.parametrize("served", [()], indirect=True)
async def test_wixapp_emulator_throttles_by_default(served: str) -> None:
    assert await throttled_after(served) == LIMIT + 1


@pytest.mark.parametrize("served", [("--no-rate-limit",)], indirect=True)
async def test_wixapp_emulator_no_rate_limit(served: str) -> None:
    assert await throttled_after(served) is None
