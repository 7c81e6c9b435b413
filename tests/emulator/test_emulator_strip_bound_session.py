"""``grant_type=strip_bound_session``: the caller's token, unbound from its browser session,
exactly as ``AppStrategy({appId, appSecret, accessToken})`` of @wix/sdk asks for it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_testkit import World, token_info

from wixapp.emulator import EmulatorState


def strip_body(secret: str, token: str) -> dict[str, Any]:
    """The body @wix/sdk's AppStrategy sends (build/auth/AppStrategy.js), nothing more."""
    return {"grant_type": "strip_bound_session", "client_secret": secret, "access_token": token}


def app_error(response: httpx.Response) -> str:
    code: str = response.json()["details"]["applicationError"]["code"]
    return code


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER", "USER"])
async def test_keeps_the_callers_identity_and_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World, subject: str
) -> None:
    minted = state.mint_token(world.instance_id, subject, subject_id="person-1", lifetime=3600)

    response = await wix.post("/oauth2/token", json=strip_body(world.app.app_secret, minted.token))

    assert response.status_code == 200, response.text
    body = response.json()
    assert {"access_token", "expires_in"} <= set(body)
    assert body["access_token"] != minted.token
    assert 0 < body["expires_in"] <= 3600
    info = (await token_info(wix, body["access_token"])).json()
    assert info["subjectType"] == subject
    assert info["subjectId"] == "person-1"
    assert info["instanceId"] == world.instance_id
    assert info["clientId"] == world.app.app_id


async def test_grant_is_checked_before_fields(wix: httpx.AsyncClient) -> None:
    response = await wix.post("/oauth2/token", json={"grant_type": "password"})

    assert response.status_code == 400
    assert app_error_or_field(response) == "grant_type"


async def test_missing_grant_names_the_grant(wix: httpx.AsyncClient) -> None:
    response = await wix.post("/oauth2/token", json={"client_secret": "x", "access_token": "y"})

    assert response.status_code == 400
    assert app_error_or_field(response) == "grant_type"


def app_error_or_field(response: httpx.Response) -> str:
    details = response.json()["details"]
    if "validationError" in details:
        field: str = details["validationError"]["fieldViolations"][0]["field"]
        return field
    return app_error(response)


@pytest.mark.parametrize("missing", ["client_secret", "access_token"])
async def test_missing_fields_are_named(
    wix: httpx.AsyncClient, state: EmulatorState, world: World, missing: str
) -> None:
    body = strip_body(world.app.app_secret, state.mint_token(world.instance_id).token)
    del body[missing]

    response = await wix.post("/oauth2/token", json=body)

    assert response.status_code == 400
    assert app_error_or_field(response) == missing


async def test_wrong_secret_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id).token

    response = await wix.post("/oauth2/token", json=strip_body("not-the-secret", token))

    assert response.status_code == 401
    assert app_error(response) == "UNAUTHENTICATED"
    assert response.json()["message"]


async def test_expired_token_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id, lifetime=60).token
    state.advance_clock(61)

    response = await wix.post("/oauth2/token", json=strip_body(world.app.app_secret, token))

    assert response.status_code == 401
    assert app_error(response) == "UNAUTHENTICATED"


async def test_revoked_token_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id).token
    state.revoke_token(token)

    response = await wix.post("/oauth2/token", json=strip_body(world.app.app_secret, token))

    assert response.status_code == 401
    assert app_error(response) == "UNAUTHENTICATED"


async def test_another_apps_token_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    # A token of the other app, presented with this app's secret.
    token = state.mint_token(world.other_installation.instance_id).token

    response = await wix.post("/oauth2/token", json=strip_body(world.app.app_secret, token))

    assert response.status_code == 401
    assert app_error(response) == "UNAUTHENTICATED"


async def test_a_client_id_naming_another_app_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id).token
    body = {**strip_body(world.app.app_secret, token), "client_id": world.other_app.app_id}

    response = await wix.post("/oauth2/token", json=body)

    assert response.status_code == 401


async def test_unbound_token_dies_with_the_installation(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id).token
    unbound = (
        await wix.post("/oauth2/token", json=strip_body(world.app.app_secret, token))
    ).json()["access_token"]

    state.uninstall(world.instance_id)

    assert (await token_info(wix, unbound)).status_code == 401
