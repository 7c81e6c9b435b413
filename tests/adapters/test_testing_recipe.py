"""The README's recipe for testing a Flask app with the pytest plugin: ``wix_settings`` into
``app.config`` through ``Settings.as_config()``, which keeps the real secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from wixapp.adapters._config import settings_from
from wixapp.adapters.flask import WixFlask
from wixapp.config import Settings
from wixapp.emulator.records import Installation
from wixapp.testing import EmulatorClock, TokenFactory


def create_flask_app() -> Flask:
    """The app under test, as a user's factory would build it."""
    app = Flask("notes")

    @app.get("/api/site")
    def site() -> dict[str, Any]:
        wix: WixFlask = app.extensions["wix_test"]
        data = wix.sync.instance(g.wix_caller.instance_id)
        return {"site": data.data.site.site_display_name}

    return app


@pytest.fixture
def client(
    wix_settings: Settings, wix_transport: httpx.AsyncBaseTransport, wix_clock: EmulatorClock
) -> Iterator[FlaskClient]:
    app = create_flask_app()
    app.config.update(wix_settings.as_config())  # not model_dump(): it masks the secret
    wix = WixFlask(app, guard=["/api/"], transport=wix_transport, clock=wix_clock)
    app.extensions["wix_test"] = wix
    yield app.test_client()
    wix.close(app)


def test_a_flask_view_identifies_and_elevates_against_the_emulator(
    client: FlaskClient, wix_install: Any, wix_token: TokenFactory
) -> None:
    installed: Installation = wix_install(display_name="Bakery")

    answer = client.get("/api/site", headers={"Authorization": wix_token(installed.instance_id)})

    assert answer.status_code == 200, answer.json
    assert answer.json == {"site": "Bakery"}


def test_as_config_round_trips_and_never_masks_the_secret(wix_settings: Settings) -> None:
    config = wix_settings.as_config()

    assert config["WIX_APP_SECRET"] == wix_settings.app_secret.get_secret_value()
    assert "*" not in config["WIX_APP_SECRET"]
    assert wix_settings.model_dump(by_alias=True)["WIX_APP_SECRET"] != config["WIX_APP_SECRET"]
    assert settings_from(config) == wix_settings
