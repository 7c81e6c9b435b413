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
    assert "WIXAPP_GUARD_PATHS" not in config  # a default: the app's own value stays


# -- Django: the same fixtures through override_settings (pytest-django's settings too)


@pytest.fixture
def django_wix(
    wix_settings: Settings, wix_transport: httpx.AsyncBaseTransport, wix_clock: EmulatorClock
) -> Iterator[None]:
    from django.test import override_settings

    from . import django_site

    django_site.configure()  # a real project: DJANGO_SETTINGS_MODULE, or pytest-django
    with override_settings(
        **wix_settings.as_config(),
        WIXAPP_OPTIONS={"transport": wix_transport, "clock": wix_clock},
    ):
        yield


def test_a_django_view_stores_per_instance_rows_against_the_emulator(
    django_wix: None, wix_install: Any, wix_token: TokenFactory
) -> None:
    from django.test import Client

    bakery: Installation = wix_install(display_name="Bakery")
    florist: Installation = wix_install(display_name="Florist")
    client = Client()

    def as_site(site: Installation) -> dict[str, str]:
        return {"Authorization": wix_token(site.instance_id)}

    named = client.get("/api/site", headers=as_site(bakery))
    written = client.post(
        "/api/records", b'{"text": "rye"}', "application/json", headers=as_site(bakery)
    )
    theirs = client.get("/api/records", headers=as_site(florist))

    assert (named.status_code, named.json()) == (200, {"name": "Bakery"})
    assert written.status_code == 200, written.content
    assert theirs.json() == {"instanceId": florist.instance_id, "records": []}
    assert client.get("/api/records", headers=as_site(bakery)).json()["records"] == ["rye"]
