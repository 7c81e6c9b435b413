"""Wix's ``x-wix-request-id``: on every emulator answer, and kept on wixapp's errors and in
its log, so a user can quote it to Wix support."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import (
    AppCredentialsError,
    ProtocolError,
    RateLimitedError,
    UpstreamUnavailableError,
    WixAPIError,
)
from wixapp.testing import EMULATOR_BASE_URL
from wixapp.upstream.client import RetryPolicy, WixClient


class SeenIds:
    """Wraps the emulator and notes the request id of every answer it gives."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.ids: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def note(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message["headers"])
                self.ids.append(headers[b"x-wix-request-id"].decode())
            await send(message)

        await self.app(scope, receive, note)


@pytest.fixture
def seen(wix_emulator: ASGIApp) -> SeenIds:
    return SeenIds(wix_emulator)


@pytest.fixture
async def client(seen: SeenIds) -> WixClient:
    async with WixClient(
        base_url=EMULATOR_BASE_URL,
        transport=httpx.ASGITransport(app=seen),
        retry=RetryPolicy(retries=0),
    ) as wix:
        yield wix  # type: ignore[misc]


def check(error: WixAPIError, seen: SeenIds, caplog: pytest.LogCaptureFixture) -> None:
    assert error.request_id == seen.ids[-1]
    assert error.request_id in str(error)
    assert error.request_id in error.to_dict()["detail"]  # what the backend answers with
    assert error.request_id in caplog.text


async def test_a_5xx_keeps_the_request_id(
    client: WixClient,
    seen: SeenIds,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wixapp")
    wix_emulator_state.add_fault("token-info", status=503)
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token

    with pytest.raises(UpstreamUnavailableError) as raised:
        await client.token_info(token)

    check(raised.value, seen, caplog)


async def test_a_429_keeps_the_request_id(
    client: WixClient,
    seen: SeenIds,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wixapp")
    wix_emulator_state.add_fault("instance", status=429, retry_after=30)

    with pytest.raises(RateLimitedError) as raised:
        await client.get_app_instance("any-token")

    check(raised.value, seen, caplog)


async def test_refused_credentials_keep_the_request_id(
    client: WixClient,
    seen: SeenIds,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wixapp")

    with pytest.raises(AppCredentialsError) as raised:
        await client.create_app_token(
            client_id=wix_registered_app.app_id,
            client_secret="wrong",
            instance_id=wix_instance.instance_id,
        )

    check(raised.value, seen, caplog)


async def test_an_unreadable_answer_keeps_the_request_id(
    client: WixClient,
    seen: SeenIds,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wixapp")
    wix_emulator_state.add_fault("token-info", malformed=True)
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token

    with pytest.raises(ProtocolError) as raised:
        await client.token_info(token)

    assert raised.value.request_id == seen.ids[-1]
    assert raised.value.request_id in str(raised.value)
