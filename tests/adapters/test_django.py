"""The Django adapter beyond the shared scenarios: decorators, configuration, view errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from wixapp.emulator.records import Installation
from wixapp.errors import ConfigurationError
from wixapp.testing import TokenFactory

from . import django_site
from .conftest import AdapterSetup

django_site.configure()

from django.test import AsyncClient, Client, override_settings  # noqa: E402

from wixapp.adapters.django import close_wix, get_wix  # noqa: E402


@pytest.fixture
def configured(adapter: AdapterSetup) -> Iterator[AdapterSetup]:
    options = {k: v for k, v in adapter.options.items() if k != "webhooks"}
    with override_settings(**adapter.config, WIXAPP_OPTIONS=options, MIDDLEWARE=[]):
        yield adapter
    close_wix()


@pytest.mark.parametrize("path", ["/decorated/whoami", "/decorated/async-whoami"])
def test_the_decorator_identifies_sync_and_async_views_without_the_middleware(
    configured: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory, path: str
) -> None:
    client = Client()
    token = wix_token(wix_instance.instance_id, "MEMBER")
    answer = client.get(path, headers={"Authorization": token})
    refused = client.get(path, headers={"Authorization": "junk"})
    assert (answer.status_code, answer.json()["subjectType"]) == (200, "MEMBER")
    assert (refused.status_code, refused.json()["error"]) == (401, "malformed_token")


async def test_an_async_view_awaits_the_core_from_its_own_loop(
    configured: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    token = wix_token(wix_instance.instance_id)
    answer = await AsyncClient().get("/decorated/async-whoami", headers={"Authorization": token})
    assert answer.json()["instanceId"] == wix_instance.instance_id


def test_settings_come_from_django_settings(configured: AdapterSetup) -> None:
    assert get_wix().settings.app_id == configured.config["WIX_APP_ID"]
    assert get_wix().settings.cors_origins == [configured.config["WIXAPP_CORS_ORIGINS"]]


def test_changed_settings_make_a_new_core(configured: AdapterSetup) -> None:
    before = get_wix()
    with override_settings(WIXAPP_CORS_ORIGINS="https://other.example"):
        assert get_wix().settings.cors_origins == ["https://other.example"]
    assert before.closed


def test_a_missing_setting_is_one_line_naming_it() -> None:
    close_wix()
    with override_settings(WIX_APP_SECRET="s"), pytest.raises(ConfigurationError) as refused:
        get_wix()
    assert "WIX_APP_ID" in refused.value.detail
    assert "\n" not in refused.value.detail


def test_the_webhook_handlers_can_be_named_by_their_path(
    configured: AdapterSetup, wix_instance: Installation
) -> None:
    django_site.ROUTER = configured.webhooks
    with override_settings(WIXAPP_WEBHOOK_HANDLERS="adapters.django_site.ROUTER"):
        body = configured.signed("AppInstalled", wix_instance.instance_id, {})
        answer = Client().post("/webhooks", body, content_type="text/plain")
        assert answer.json() == {"status": "applied", "eventType": "AppInstalled"}
        assert configured.handled.wait(5)


def test_webhook_handlers_that_are_not_a_router_are_named_in_the_error(
    configured: AdapterSetup,
) -> None:
    with (
        override_settings(WIXAPP_WEBHOOK_HANDLERS="adapters.django_site.NOTES"),
        pytest.raises(ConfigurationError, match="WIXAPP_WEBHOOK_HANDLERS"),
    ):
        get_wix()


@pytest.mark.parametrize("client_kind", ["sync", "async"])
async def test_the_middleware_renders_a_wixapp_error_a_view_raises(
    configured: AdapterSetup,
    wix_instance: Installation,
    wix_token: TokenFactory,
    client_kind: str,
) -> None:
    token = {"Authorization": wix_token(wix_instance.instance_id)}
    configured.state.add_fault("instance", status=503)
    with override_settings(MIDDLEWARE=["wixapp.adapters.django.WixMiddleware"]):
        if client_kind == "async":
            down = await AsyncClient().get("/api/site", headers=token)
        else:
            down = await asyncio.to_thread(Client().get, "/api/site", headers=token)
    assert (down.status_code, down.json()["error"]) == (503, "upstream_unavailable")
    assert down.headers["Retry-After"]
