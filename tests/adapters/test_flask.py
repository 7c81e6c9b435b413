"""The Flask extension beyond the shared scenarios: decorator, configuration, the sync core."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g

from wixapp.adapters.flask import WixFlask
from wixapp.emulator.records import Installation
from wixapp.errors import ConfigurationError
from wixapp.testing import TokenFactory

from .apps import Notes
from .conftest import AdapterSetup
from .frameworks import flask_app


@pytest.fixture
def app(adapter: AdapterSetup) -> Iterator[Flask]:
    built = flask_app(adapter.config, Notes(), **adapter.options)
    yield built
    built.extensions["wixapp-test-extension"].close(built)


def test_the_decorator_puts_the_caller_on_g(
    app: Flask, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    client = app.test_client()
    token = wix_token(wix_instance.instance_id, "USER")
    answer = client.get("/decorated/whoami", headers={"Authorization": token})
    refused = client.get("/decorated/whoami")
    assert (answer.status_code, answer.json["subjectType"]) == (200, "USER")  # type: ignore[index]
    assert (refused.status_code, refused.json["error"]) == (401, "missing_token")  # type: ignore[index]


def test_views_reach_instance_data_through_the_sync_core(
    adapter: AdapterSetup, wix_install: Any, wix_token: TokenFactory
) -> None:
    installed = wix_install(display_name="Bakery")
    app = Flask("elevated")
    app.config.update(adapter.config)
    wix = WixFlask(app, **adapter.options)

    @app.get("/site")
    @wix.caller_required
    def site() -> dict[str, Any]:
        data = wix.sync.instance(g.wix_caller.instance_id)
        return {"name": data.data.site.site_display_name}

    try:
        answer = app.test_client().get(
            "/site", headers={"Authorization": wix_token(installed.instance_id)}
        )
    finally:
        wix.close(app)
    assert answer.json == {"name": "Bakery"}


def test_configuration_comes_from_the_environment_when_app_config_has_none(
    adapter: AdapterSetup,
    monkeypatch: pytest.MonkeyPatch,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    for name, value in adapter.config.items():
        monkeypatch.setenv(name, str(value))
    app = Flask("from-env")
    wix = WixFlask(app, guard=["/"], **adapter.options)
    app.add_url_rule("/", "who", lambda: dict(g.wix_caller.public()))
    try:
        answer = app.test_client().get(
            "/", headers={"Authorization": wix_token(wix_instance.instance_id)}
        )
    finally:
        wix.close(app)
    assert answer.json["instanceId"] == wix_instance.instance_id  # type: ignore[index]


def test_app_config_wins_over_the_environment(
    adapter: AdapterSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIX_APP_ID", "from-the-environment")
    app = Flask("config-wins")
    app.config.update(adapter.config)
    wix = WixFlask(app, **adapter.options)
    try:
        assert wix.sync_for(app).settings.app_id == adapter.config["WIX_APP_ID"]
    finally:
        wix.close(app)


def test_a_missing_setting_is_one_line_naming_it() -> None:
    with pytest.raises(ConfigurationError) as refused:
        WixFlask(Flask("unconfigured"))
    assert "WIX_APP_ID" in refused.value.detail
    assert "\n" not in refused.value.detail


def test_async_views_and_errors_raised_in_views(
    adapter: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    app = Flask("async-and-errors")
    app.config.update(adapter.config)
    wix = WixFlask(app, **adapter.options)

    @app.get("/site")
    @wix.caller_required
    async def site() -> dict[str, Any]:
        data = wix.sync.instance(g.wix_caller.instance_id)  # Wix down: raises, rendered
        return {"name": data.data.site.site_display_name}

    token = {"Authorization": wix_token(wix_instance.instance_id)}
    try:
        client = app.test_client()
        assert client.get("/site", headers=token).json == {"name": "Test Site"}
        adapter.state.add_fault("instance", status=503)
        wix.sync_for(app).forget_instance(wix_instance.instance_id)
        down = client.get("/site", headers=token)
    finally:
        wix.close(app)
    assert (down.status_code, down.json["error"]) == (503, "upstream_unavailable")  # type: ignore[index]
    assert down.headers["Retry-After"]
