"""Shared test helpers for the emulator tests: the world they set up and Wix calls."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from wixapp.emulator import Installation, RegisteredApp, Site

WIX_BASE_URL = "https://www.wixapis.com"
CONTROL_BASE_URL = "http://wix-emulator.invalid"  # .invalid never resolves: loopback-only


@dataclass(frozen=True)
class World:
    """One app installed on one site, plus a second app and site to prove isolation."""

    app: RegisteredApp
    site: Site
    installation: Installation
    other_app: RegisteredApp
    other_installation: Installation

    @property
    def instance_id(self) -> str:
        return self.installation.instance_id


async def elevate(wix: httpx.AsyncClient, app: RegisteredApp, instance_id: str) -> httpx.Response:
    """POST /oauth2/token exactly as spec §3 documents it."""
    body = {
        "grant_type": "client_credentials",
        "client_id": app.app_id,
        "client_secret": app.app_secret,
        "instance_id": instance_id,
    }
    return await wix.post("/oauth2/token", json=body)


async def app_token(wix: httpx.AsyncClient, app: RegisteredApp, instance_id: str) -> str:
    response = await elevate(wix, app, instance_id)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def token_info(wix: httpx.AsyncClient, token: str) -> httpx.Response:
    return await wix.post("/oauth2/token-info", json={"token": token})


async def get_instance(wix: httpx.AsyncClient, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await wix.get("/apps/v1/instance", headers=headers)
