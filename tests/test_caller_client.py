"""``WixApp.caller_client(token)``: calling Wix as the visitor, member or Wix user behind a
token, the Python counterpart of @wix/sdk's ``AppStrategy({appId, appSecret, accessToken})``.

Against the emulator's ``strip_bound_session`` grant. A small route next to the emulator
(``/whoami``) plays "any Wix API": it reads the ``Authorization`` it was sent with the
emulator's own state, so the tests see which identity the client really called as.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from wixapp import WixApp
from wixapp.config import Settings
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.errors import InstanceRemovedError, InvalidTokenError


@pytest.fixture
def wix_api(wix_emulator: Starlette, wix_emulator_state: EmulatorState) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        claims = wix_emulator_state.introspect(request.headers.get("authorization", ""))
        if claims is None:
            return JSONResponse({"message": "unauthenticated"}, status_code=401)
        return JSONResponse(
            {
                "subjectType": claims.subject_type.value,
                "subjectId": claims.subject_id,
                "instanceId": claims.instance_id,
            }
        )

    return Starlette(routes=[Route("/whoami", whoami), Mount("/", wix_emulator)])


@pytest.fixture
async def wix(
    wix_settings: Settings, wix_api: Starlette, wix_emulator_state: EmulatorState
) -> AsyncIterator[WixApp]:
    transport = httpx.ASGITransport(app=wix_api)
    async with WixApp(wix_settings, transport=transport, clock=wix_emulator_state.now) as app:
        yield app


async def whoami(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/whoami")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER", "USER"])
async def test_calls_wix_as_the_caller(
    wix: WixApp, wix_emulator_state: EmulatorState, wix_instance: Installation, subject: str
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, subject).token

    async with wix.caller_client(token) as client:
        seen = await whoami(client)

    assert seen["subjectType"] == subject
    assert seen["instanceId"] == wix_instance.instance_id
    assert wix_emulator_state.calls()["token"] == 1


async def test_the_unbound_token_is_cached_per_token(
    wix: WixApp, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    first = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER").token
    second = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER").token

    for _ in range(3):
        async with wix.caller_client(first) as client:
            await whoami(client)
    async with wix.caller_client(second) as client:
        await whoami(client)

    assert wix_emulator_state.calls()["token"] == 2


async def test_the_cache_ends_at_expiry(
    wix: WixApp, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER", lifetime=600).token
    async with wix.caller_client(token) as client:
        await whoami(client)

    wix_emulator_state.advance_clock(601)

    async with wix.caller_client(token) as client:
        with pytest.raises(InvalidTokenError):
            await client.get("/whoami")
    assert wix_emulator_state.calls()["token"] == 1  # the expired caller is refused first


async def test_a_revoked_caller_token_is_refused_once_the_token_cache_max_age_passes(
    wix: WixApp, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER").token
    async with wix.caller_client(token) as client:
        await whoami(client)
    wix_emulator_state.revoke_token(token)
    wix_emulator_state.advance_clock(wix.settings.token_cache_max_age + 1)

    async with wix.caller_client(token) as client:
        with pytest.raises(InvalidTokenError):
            await client.get("/whoami")
    assert wix_emulator_state.calls()["token"] == 1  # the cached unbound token was not used


async def test_a_removed_instances_caller_is_refused_with_its_unbound_token_cached(
    wix: WixApp, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, "USER").token
    async with wix.caller_client(token) as client:
        await whoami(client)
    await wix.instance_removed(wix_instance.instance_id)

    async with wix.caller_client(token) as client:
        with pytest.raises(InstanceRemovedError):
            await client.get("/whoami")


async def test_a_revoked_unbound_token_is_replaced_once(
    wix: WixApp, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, "USER").token
    sent: list[str] = []

    async def note(request: httpx.Request) -> None:
        if request.url.path == "/whoami":
            sent.append(request.headers["authorization"])

    async with wix.caller_client(token, event_hooks={"request": [note]}) as client:
        await whoami(client)
        wix_emulator_state.revoke_token(sent[0])

        seen = await whoami(client)

    assert seen["subjectType"] == "USER"
    assert sent[0] != token  # the unbound token, not the caller's own
    assert sent[0] != sent[-1]
    assert wix_emulator_state.calls()["token"] == 2


async def test_a_refused_token_raises(wix: WixApp, wix_emulator_state: EmulatorState) -> None:
    async with wix.caller_client("OauthNG.JWS.not.a.token") as client:
        with pytest.raises(InvalidTokenError):
            await client.get("/whoami")


async def test_the_token_is_never_logged(
    wix: WixApp,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER").token
    async with wix.caller_client(token) as client:
        await whoami(client)
        wix_emulator_state.advance_clock(10**6)
        with pytest.raises(InvalidTokenError):
            await client.get("/whoami")

    logged = caplog.text + repr([record.args for record in caplog.records])
    assert token not in logged
    assert token[-40:] not in logged


@pytest.mark.parametrize(("subject", "status"), [("USER", 200), ("MEMBER", 403), ("VISITOR", 403)])
async def test_the_owner_reads_the_app_instance_as_themselves(
    wix: WixApp,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    subject: str,
    status: int,
) -> None:
    """A dashboard page's caller is the site's Wix user, whom Get App Instance serves."""
    token = wix_emulator_state.mint_token(wix_instance.instance_id, subject).token

    async with wix.caller_client(token) as client:
        response = await client.get("/apps/v1/instance")

    assert response.status_code == status
    if status == 200:
        assert response.json()["instance"]["instanceId"] == wix_instance.instance_id
