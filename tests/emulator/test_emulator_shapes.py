"""The emulator answers in the very shapes of the documentation examples (spec §2 to §6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_testkit import World, app_token, elevate, get_instance, token_info

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import ValueStyle
from wixapp.models import AppInstance, TokenInfo

DOC_TOKEN_INFO: dict[str, Any] = {
    "active": "true",
    "subjectType": "APP",
    "subjectId": "a8098c1a-f86e-11da-bd1a-00112444be1e",
    "exp": "1715096067",
    "iat": "1715081667",
    "clientId": "7f58c233-72b6-4e45-889c-56aca8dbb2ba",
    "siteId": "65c5e710-5e64-4b54-a807-237a554d28a7",
    "instanceId": "1ec48d1e-1919-4b9f-8e08-f7a242fdbf52",
}
DOC_TOKEN: dict[str, Any] = {
    "access_token": "<SAMPLE_ACCESS_TOKEN>",
    "token_type": "Bearer",
    "expires_in": 14400,
}
DOC_INSTANCE: dict[str, Any] = {
    "instance": {
        "appName": "MY_SHINY_APP",
        "appVersion": "0.0.53",
        "billing": {
            "billingCycle": "MONTHLY",
            "packageName": "e8f429d4-0a6a-468f-8044-87f519a53202",
            "source": "Wix discount coupon",
        },
        "instanceId": "07864c16-3a6f-4dd2-9973-028705762b2c",
        "isFree": False,
        "permissions": [
            "WIX_DEVELOPERS.CREATE_CHECKOUT",
            "WIX_DEVELOPERS.MANAGE_APP_INSTANCE",
            "WIX_DEVELOPERS.MANAGE_CHARGE",
        ],
    },
    "site": {
        "locale": "he",
        "multilingual": {"isMultiLingual": False, "supportedLanguages": []},
        "paymentCurrency": "ILS",
        "siteDisplayName": "Mysite 34",
        "url": "https://doereg11.wixsite.com/mysite-34",
        "description": "My awesome site is all about selling stuff",
        "ownerEmail": "site-owner@test.com",
        "ownerInfo": {"email": "site-owner@test.com", "emailStatus": "VERIFIED_OPT_IN"},
        "siteId": "64fc2d7e-1585-45ef-b1c3-6081185108c1",
    },
}
NATIVE_TOKEN_INFO = {**DOC_TOKEN_INFO, "active": True, "exp": 1715096067, "iat": 1715081667}


def shape(value: object) -> object:
    """Keys, nesting and value types, without the values (a list by its first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def documented(value: object, example: object) -> object:
    """``value`` cut down to the keys the documentation example shows (Wix sends more)."""
    if isinstance(value, dict) and isinstance(example, dict):
        return {key: documented(value[key], example[key]) for key in example if key in value}
    return value


def test_shape_sees_differences() -> None:
    assert shape({"a": "1"}) != shape({"a": 1})
    assert shape({"a": {"b": True}}) != shape({"a": {"c": True}})


@pytest.mark.parametrize(
    ("style", "example"), [("string", DOC_TOKEN_INFO), ("native", NATIVE_TOKEN_INFO)]
)
async def test_token_info_matches_the_documented_example(
    wix: httpx.AsyncClient,
    state: EmulatorState,
    world: World,
    style: ValueStyle,
    example: dict[str, Any],
) -> None:
    state.set_behaviour(value_style=style)
    token = await app_token(wix, world.app, world.instance_id)

    response = await token_info(wix, token)

    assert response.status_code == 200
    body = response.json()
    assert shape(body) == shape(example)
    assert list(body) == list(example)  # same order as the documentation, too
    parsed = TokenInfo.model_validate(body)
    assert parsed.active
    assert parsed.instance_id == world.instance_id
    assert parsed.client_id == world.app.app_id
    assert parsed.exp is not None
    assert parsed.iat is not None
    assert parsed.exp - parsed.iat == 14400


async def test_user_token_info_adds_the_account(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id, "USER").token

    body = (await token_info(wix, token)).json()

    assert body["subjectType"] == "USER"
    assert body["accountId"] == world.site.owner_id
    assert shape({k: v for k, v in body.items() if k != "accountId"}) == shape(DOC_TOKEN_INFO)


async def test_token_matches_the_documented_example(wix: httpx.AsyncClient, world: World) -> None:
    response = await elevate(wix, world.app, world.instance_id)

    assert response.status_code == 200
    body = response.json()
    assert shape(body) == shape(DOC_TOKEN)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 14400
    assert body["access_token"].startswith("OauthNG.JWS.")
    assert len(body["access_token"].split(".")) == 5


async def test_instance_matches_the_documented_example(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.set_plan(world.instance_id, package_name="e8f429d4-0a6a-468f", billing_cycle="MONTHLY")
    token = await app_token(wix, world.app, world.instance_id)

    response = await get_instance(wix, token)

    assert response.status_code == 200
    body = response.json()
    assert shape(documented(body, DOC_INSTANCE)) == shape(DOC_INSTANCE)
    parsed = AppInstance.model_validate(body)
    assert parsed.instance.instance_id == world.instance_id
    assert parsed.instance.is_free is False
    assert parsed.instance.billing is not None
    assert parsed.instance.billing.billing_cycle == "MONTHLY"
    assert parsed.site.site_id == world.site.site_id
    assert parsed.site.site_display_name == "Mysite 34"
    assert parsed.site.payment_currency == "ILS"


async def test_free_instance_has_no_billing(wix: httpx.AsyncClient, world: World) -> None:
    token = await app_token(wix, world.app, world.instance_id)

    instance = (await get_instance(wix, token)).json()["instance"]

    assert instance["isFree"] is True
    assert "billing" not in instance


async def test_error_envelope_shape(wix: httpx.AsyncClient) -> None:
    response = await get_instance(wix, "not-a-token")

    assert response.status_code == 401
    body = response.json()
    assert shape(body) == shape(
        {
            "message": "m",
            "details": {"applicationError": {"code": "c", "description": "d", "data": {}}},
        }
    )
    assert body["details"]["applicationError"]["code"] == "UNAUTHENTICATED"


async def test_validation_error_envelope_shape(wix: httpx.AsyncClient) -> None:
    response = await wix.post("/oauth2/token-info", json={})

    assert response.status_code == 400
    violations = response.json()["details"]["validationError"]["fieldViolations"]
    assert violations[0]["field"] == "token"
    assert set(violations[0]) == {"field", "description", "violatedRule", "ruleName", "data"}


async def test_server_error_body(wix: httpx.AsyncClient, state: EmulatorState) -> None:
    state.add_fault("instance", status=500)

    response = await get_instance(wix, "anything")

    assert response.status_code == 500
    assert response.json() == {"message": "", "details": {}}
