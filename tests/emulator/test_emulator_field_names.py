"""Request JSON parsed as Wix's gateway does (protobuf-JSON): every field is accepted under
its snake_case name and its lowerCamelCase name; both present with different values is a
400. On every route that takes a body: Wix's and the control API's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_testkit import World, app_token

from wixapp.emulator import EmulatorState


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def spelled(body: dict[str, Any], spelling: str) -> dict[str, Any]:
    return body if spelling == "snake" else {camel(key): value for key, value in body.items()}


def violation(response: httpx.Response) -> dict[str, Any]:
    violations = response.json()["details"]["validationError"]["fieldViolations"]
    assert len(violations) == 1
    found: dict[str, Any] = violations[0]
    return found


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_client_credentials_in_either_spelling(
    wix: httpx.AsyncClient, world: World, spelling: str
) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instance_id": world.instance_id,
    }

    response = await wix.post("/oauth2/token", json=spelled(body, spelling))

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}


async def test_the_guide_mixes_spellings(wix: httpx.AsyncClient, world: World) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instanceId": world.instance_id,  # Wix's own guide writes this one in camelCase
    }

    assert (await wix.post("/oauth2/token", json=body)).status_code == 200


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_strip_bound_session_in_either_spelling(
    wix: httpx.AsyncClient, state: EmulatorState, world: World, spelling: str
) -> None:
    token = state.mint_token(world.instance_id, "MEMBER").token
    body = {
        "grant_type": "strip_bound_session",
        "client_secret": world.app.app_secret,
        "access_token": token,
    }

    response = await wix.post("/oauth2/token", json=spelled(body, spelling))

    assert response.status_code == 200, response.text


async def test_token_info_takes_its_one_field(wix: httpx.AsyncClient, world: World) -> None:
    token = await app_token(wix, world.app, world.instance_id)

    assert (await wix.post("/oauth2/token-info", json={"token": token})).status_code == 200


async def test_both_spellings_that_agree_are_one_field(
    wix: httpx.AsyncClient, world: World
) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "clientId": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instance_id": world.instance_id,
        "instanceId": world.instance_id,
    }

    assert (await wix.post("/oauth2/token", json=body)).status_code == 200


async def test_both_spellings_that_differ_are_refused(wix: httpx.AsyncClient, world: World) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instance_id": world.instance_id,
        "instanceId": world.other_installation.instance_id,
    }

    response = await wix.post("/oauth2/token", json=body)

    assert response.status_code == 400
    assert violation(response)["field"] == "instance_id"
    assert "instanceId" in violation(response)["description"]


async def test_differing_spellings_are_refused_before_the_grant(
    wix: httpx.AsyncClient, world: World
) -> None:
    body = {"grant_type": "client_credentials", "grantType": "strip_bound_session"}

    response = await wix.post("/oauth2/token", json=body)

    assert response.status_code == 400
    assert violation(response)["field"] == "grant_type"


# ---- the control API


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_control_api_in_either_spelling(
    control_http: httpx.AsyncClient, state: EmulatorState, world: World, spelling: str
) -> None:
    site = state.create_site()
    body = {"app_id": world.app.app_id, "site_id": site.site_id, "is_free": False}

    response = await control_http.post("/_emulator/installations", json=spelled(body, spelling))

    assert response.status_code == 200, response.text
    assert response.json()["isFree"] is False


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_emulator/apps", {"app_id": "one", "appId": "two"}),
        ("/_emulator/tokens", {"instance_id": "one", "instanceId": "two"}),
        ("/_emulator/sites", {"display_name": "A", "displayName": "B"}),
    ],
)
async def test_control_api_refuses_differing_spellings(
    control_http: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await control_http.post(path, json=body)

    assert response.status_code == 400
    assert response.json()["error"] == "emulator_invalid_body"
    snake, camel_name = list(body)
    assert snake in response.json()["detail"]
    assert camel_name in response.json()["detail"]


def _control_bodies(state: EmulatorState, world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """One request per control route that takes a multi-word field, in snake_case."""
    token = state.mint_token(world.instance_id).token
    return [
        ("POST", "/_emulator/apps", {"app_id": "spelled-app", "app_secret": "s"}),
        ("POST", "/_emulator/sites", {"display_name": "Spelled", "payment_currency": "EUR"}),
        ("POST", "/_emulator/tokens", {"instance_id": world.instance_id, "subject_type": "USER"}),
        ("POST", "/_emulator/tokens/revoke", {"token": token}),
        ("POST", "/_emulator/legacy-instances", {"instance_id": world.instance_id}),
        (
            "PUT",
            f"/_emulator/installations/{world.instance_id}/plan",
            {"package_name": "pro", "billing_cycle": "YEARLY", "coupon_name": "X"},
        ),
        ("POST", "/_emulator/faults", {"endpoint": "token", "retry_after": 2.0, "status": 429}),
        ("PATCH", "/_emulator/behaviour", {"value_style": "native", "rate_limit": True}),
        ("POST", "/_emulator/webhooks/config", {"app_id": world.app.app_id, "url": None}),
        ("POST", f"/_emulator/sites/{world.site.site_id}/duplicate", {"display_name": "Copy"}),
    ]


@pytest.mark.parametrize("index", range(10))
@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_every_control_route_takes_either_spelling(
    control_http: httpx.AsyncClient,
    state: EmulatorState,
    world: World,
    spelling: str,
    index: int,
) -> None:
    method, path, body = _control_bodies(state, world)[index]

    response = await control_http.request(method, path, json=spelled(body, spelling))

    assert response.status_code in (200, 204), response.text
