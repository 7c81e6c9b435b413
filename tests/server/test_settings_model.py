"""``create_app(settings_model=...)``: settings the app defines, with the built-in's
validation, ETag/If-Match, size limit and cache."""

from __future__ import annotations

from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import ConfigurationError
from wixapp.server import create_app
from wixapp.testing import EmulatorClock, TokenFactory, open_backend, settings_for_emulator


class Banner(BaseModel):
    text: str = Field(default="", max_length=40)
    tone: Literal["info", "alert"] = "info"


class BoardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    columns: int = Field(default=3, ge=1, le=6)
    show_authors: bool = Field(default=True, alias="showAuthors")
    banner: Banner = Field(default_factory=Banner)


@pytest.fixture
async def board(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    database_url: str,
) -> Any:
    settings = settings_for_emulator(
        wix_registered_app, database_url=database_url, WIXAPP_SETTINGS_MAX_BYTES=512
    )
    app = create_app(
        settings,
        wix_transport=wix_transport,
        clock=EmulatorClock(wix_emulator_state),
        settings_model=BoardSettings,
    )
    async with open_backend(app) as client:
        yield client


async def test_the_apps_model_gives_the_defaults_validates_and_keeps_the_etag_rules(
    board: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    owner = {"Authorization": wix_token(wix_instance.instance_id, "USER")}
    visitor = {"Authorization": wix_token(wix_instance.instance_id, "VISITOR")}
    first = await board.get("/api/settings", headers=visitor)
    assert first.json()["settings"] == {
        "columns": 3,
        "showAuthors": True,
        "banner": {"text": "", "tone": "info"},
    }
    assert first.headers["ETag"] == '"v0"'

    document = {"columns": 5, "banner": {"text": "Sale!", "tone": "alert"}}
    saved = await board.put("/api/settings", json=document, headers={**owner, "If-Match": '"v0"'})
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"] == {**document, "showAuthors": True}
    read = await board.get("/api/settings", headers=visitor)  # the cache was invalidated
    assert read.json()["settings"]["columns"] == 5
    assert read.headers["ETag"] == saved.headers["ETag"] == '"v1"'

    stale = await board.put("/api/settings", json={}, headers={**owner, "If-Match": '"v0"'})
    assert stale.status_code == 412
    wrong = await board.put(
        "/api/settings", json={"columns": 9}, headers={**owner, "If-Match": '"v1"'}
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "invalid_settings"
    assert wrong.json()["problems"][0]["field"].endswith("columns")
    greeting = await board.put(  # the built-in model's field is unknown here
        "/api/settings", json={"greeting": "hi"}, headers={**owner, "If-Match": '"v1"'}
    )
    assert greeting.status_code == 422
    huge = await board.put(
        "/api/settings",
        json={"banner": {"text": "x" * 600}},
        headers={**owner, "If-Match": '"v1"'},
    )
    assert huge.status_code == 413


async def test_openapi_describes_the_apps_model(board: httpx.AsyncClient) -> None:
    schema = (await board.get("/openapi.json")).json()
    put = schema["paths"]["/api/settings"]["put"]
    reference = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert reference == "#/components/schemas/BoardSettings"
    components = schema["components"]["schemas"]
    assert set(components["BoardSettings"]["properties"]) == {"columns", "showAuthors", "banner"}
    assert "Banner" in components
    assert components["SettingsBody"]["properties"]["settings"]["$ref"] == reference


def test_a_model_without_defaults_is_refused_at_once() -> None:
    class Strict(BaseModel):
        required: str

    app = RegisteredApp(app_id="a", app_secret="s")
    settings = settings_for_emulator(app, database_url="sqlite://")
    with pytest.raises(ConfigurationError, match="settings_model Strict: give every field"):
        create_app(settings, settings_model=Strict)
