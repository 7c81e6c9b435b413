"""Wix's own guide, run as written against the emulator.

The self-hosting guide's backend (identify the app instance in a site widget, then elevate)
makes three REST calls with ``fetch``. Transcribed line by line to Python: token-info with
the widget's token; ``POST /oauth2/token`` with ``instanceId`` in camelCase (the guide's
spelling, where the REST reference has ``instance_id``); Get App Instance with
``Authorization: Bearer <token>``. Nothing here goes through wixapp's own client.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.upstream.client import WixClient

WIX_API = "https://www.wixapis.com"


async def guide_get_instance(
    fetch: httpx.AsyncClient, authorization: str, app_id: str, app_secret: str
) -> dict[str, Any]:
    # const tokenInfo = await fetch('https://www.wixapis.com/oauth2/token-info', {
    #   method: 'POST', headers: {'Content-Type': 'application/json'},
    #   body: JSON.stringify({ token: accessToken }) }).then(r => r.json());
    token_info = (
        await fetch.post(
            f"{WIX_API}/oauth2/token-info",
            headers={"Content-Type": "application/json"},
            json={"token": authorization},
        )
    ).json()
    instance_id = token_info["instanceId"]

    # const { access_token } = await fetch('https://www.wixapis.com/oauth2/token', {
    #   method: 'POST', headers: {'Content-Type': 'application/json'},
    #   body: JSON.stringify({ grant_type: 'client_credentials', client_id: APP_ID,
    #                          client_secret: APP_SECRET, instanceId }) }).then(r => r.json());
    token_response = await fetch.post(
        f"{WIX_API}/oauth2/token",
        headers={"Content-Type": "application/json"},
        json={
            "grant_type": "client_credentials",
            "client_id": app_id,
            "client_secret": app_secret,
            "instanceId": instance_id,
        },
    )
    assert token_response.status_code == 200, token_response.text
    access_token = token_response.json()["access_token"]

    # const instance = await fetch('https://www.wixapis.com/apps/v1/instance', {
    #   headers: { Authorization: `Bearer ${access_token}` } }).then(r => r.json());
    instance_response = await fetch.get(
        f"{WIX_API}/apps/v1/instance", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert instance_response.status_code == 200, instance_response.text
    body: dict[str, Any] = instance_response.json()
    return body


async def test_the_guides_rest_flow_runs_as_written(
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
) -> None:
    widget_token = wix_emulator_state.mint_token(wix_instance.instance_id, "VISITOR").token

    async with httpx.AsyncClient(transport=wix_transport) as fetch:
        data = await guide_get_instance(
            fetch, widget_token, wix_registered_app.app_id, wix_registered_app.app_secret
        )

    assert data["instance"]["instanceId"] == wix_instance.instance_id
    assert data["site"]["siteId"] == wix_instance.site_id
    assert wix_emulator_state.calls() == {"token-info": 1, "token": 1, "instance": 1}


async def test_the_library_sends_the_documented_snake_case(
    wix_emulator: Any,
    wix_emulator_state: EmulatorState,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
) -> None:
    """The emulator takes both spellings; wixapp itself sends the REST reference's."""
    bodies: list[dict[str, Any]] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def noting() -> Any:
            message = await receive()
            if scope["path"] == "/oauth2/token" and message.get("body"):
                bodies.append(json.loads(message["body"]))
            return message

        await wix_emulator(scope, noting, send)

    async with WixClient(base_url=WIX_API, transport=httpx.ASGITransport(app=recording)) as wix:
        await wix.create_app_token(
            client_id=wix_registered_app.app_id,
            client_secret=wix_registered_app.app_secret,
            instance_id=wix_instance.instance_id,
        )
        member = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER").token
        await wix.strip_bound_session(
            client_id=wix_registered_app.app_id,
            client_secret=wix_registered_app.app_secret,
            access_token=member,
        )

    assert [sorted(body) for body in bodies] == [
        ["client_id", "client_secret", "grant_type", "instance_id"],
        ["access_token", "client_id", "client_secret", "grant_type"],
    ]
