"""WixClient with no transport given (its default sender, aiohttp) against the emulator
served on a loopback port: the same answers and failures as through httpx."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import InvalidTokenError, UpstreamUnavailableError
from wixapp.testing.loopback import serving
from wixapp.upstream.client import RetryPolicy, WixClient
from wixapp.upstream.transport import AiohttpSender

FAST_RETRIES = RetryPolicy(retries=2, base_delay=0.01, max_delay=0.02, max_retry_after=1.0)


@pytest.fixture
async def served_client(wix_emulator: Any) -> AsyncIterator[WixClient]:
    async with (
        serving(wix_emulator) as url,
        WixClient(base_url=url, retry=FAST_RETRIES, timeout=0.5, deadline=5.0) as wix,
    ):
        yield wix


async def test_the_default_sender_is_aiohttp(served_client: WixClient) -> None:
    assert isinstance(served_client._sender, AiohttpSender)


async def test_identify_elevate_and_read_the_instance(
    served_client: WixClient,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_registered_app: RegisteredApp,
) -> None:
    minted = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER")
    info = await served_client.token_info(minted.token)
    assert info.instance_id == wix_instance.instance_id
    token = await served_client.create_app_token(
        client_id=wix_registered_app.app_id,
        client_secret=wix_registered_app.app_secret,
        instance_id=wix_instance.instance_id,
    )
    data = await served_client.get_app_instance(token.access_token)
    assert data.site.site_id == wix_instance.site_id


async def test_a_refusal_keeps_wix_request_id(
    served_client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", status=503, count=3)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await served_client.token_info(token)
    assert caught.value.wix_status == 503
    assert caught.value.request_id  # found case-insensitively in aiohttp's headers
    with pytest.raises(InvalidTokenError):
        await served_client.token_info(token + "x")


async def test_a_hang_times_out_and_is_retried(
    served_client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", hang=True)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await served_client.token_info(token)
    assert caught.value.code == "upstream_timeout"
    assert wix_emulator_state.calls()["token-info"] == 3


async def test_nobody_listening_is_unavailable_after_bounded_retries() -> None:
    with socket.socket() as sock:  # a port bound and not listening refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with WixClient(base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRIES) as wix:
            with pytest.raises(UpstreamUnavailableError, match="Could not reach Wix"):
                await wix.token_info("OauthNG.JWS.a.b.c-0123456789")
