"""The plain ASGI middleware beyond the shared scenarios: guards, errors, ownership."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from wixapp.adapters.asgi import WixMiddleware, caller_of
from wixapp.app import WixApp
from wixapp.emulator.records import Installation
from wixapp.errors import UpstreamUnavailableError
from wixapp.testing import TokenFactory

from .conftest import AdapterSetup


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"public": True})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(caller_of(request.scope).public())


async def fails(request: Request) -> JSONResponse:
    raise UpstreamUnavailableError(retry_after=7)


def app_with(adapter: AdapterSetup, **middleware: Any) -> Starlette:
    routes = [
        Route("/public", public),
        Route("/api/whoami", whoami),
        Route("/api/fails", fails),
    ]
    options = {"settings": adapter.settings, **adapter.options, **middleware}
    return Starlette(routes=routes, middleware=[Middleware(WixMiddleware, **options)])


@pytest.fixture
def client(adapter: AdapterSetup) -> Iterator[TestClient]:
    with TestClient(app_with(adapter, guard=["/api/"])) as opened:
        yield opened


def test_paths_outside_the_guard_need_no_token(client: TestClient) -> None:
    assert client.get("/public").json() == {"public": True}
    assert client.get("/api/whoami").status_code == 401


def test_a_wixapp_error_raised_by_a_route_is_rendered(
    client: TestClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    response = client.get(
        "/api/fails", headers={"Authorization": wix_token(wix_instance.instance_id)}
    )
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_unavailable"
    assert response.headers["Retry-After"] == "7"


def test_a_guard_can_be_a_predicate(
    adapter: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    app = app_with(adapter, guard=lambda path: path.endswith("whoami"))
    with TestClient(app) as client:
        assert client.get("/api/whoami").status_code == 401
        assert client.get("/public").status_code == 200


def test_without_a_guard_the_settings_guard_applies(adapter: AdapterSetup) -> None:
    with TestClient(app_with(adapter)) as client:  # WIXAPP_GUARD_PATHS: none by default
        assert client.get("/public").status_code == 200
        with pytest.raises(LookupError, match="WIXAPP_GUARD_PATHS"):
            client.get("/api/whoami")  # nobody identified it
    settings = adapter.settings.model_copy(update={"guard_paths": ["/"]})
    everything = Starlette(routes=[Route("/public", public)])
    with TestClient(WixMiddleware(everything, settings=settings, **adapter.options)) as client:
        assert client.get("/public").status_code == 401


def test_the_legacy_parameter_can_be_turned_off(
    adapter: AdapterSetup, wix_instance: Installation
) -> None:
    value = adapter.state.sign_legacy_instance(wix_instance.instance_id)
    with TestClient(app_with(adapter, guard=["/api/"], legacy=False)) as client:
        response = client.get("/api/whoami", params={"instance": value})
    assert (response.status_code, response.json()["error"]) == (401, "missing_token")


async def test_a_given_wixapp_is_used_and_left_open(
    adapter: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    token = wix_token(wix_instance.instance_id)
    async with WixApp(adapter.settings, transport=adapter.options["transport"]) as wix:
        await wix.identify(token)  # cached: the middleware's call needs no Wix call
        adapter.state.reset_calls()
        app = app_with(adapter, guard=["/api/"], wix=wix)
        with TestClient(app) as client:
            assert client.get("/api/whoami", headers={"Authorization": token}).status_code == 200
        assert adapter.state.calls()["token-info"] == 0
        assert (await wix.identify(token)).instance_id == wix_instance.instance_id


def test_a_bad_guard_is_refused_at_once(adapter: AdapterSetup) -> None:
    with pytest.raises(ValueError, match="prefixes"):
        WixMiddleware(public, settings=adapter.settings, guard=["api"])


async def test_an_owned_wixapp_and_its_webhook_store_close_with_the_lifespan(
    adapter: AdapterSetup, wix_instance: Installation
) -> None:
    inner = Starlette(routes=[Route("/public", public)])
    app = WixMiddleware(inner, settings=adapter.settings, guard=["/api/"], **adapter.options)
    body = adapter.signed("AppInstalled", wix_instance.instance_id, {})
    with TestClient(app) as client:
        assert client.post("/webhooks", content=body).json()["status"] == "applied"
    assert adapter.handled.is_set()  # drained before the store closed
    with pytest.raises(RuntimeError, match="closed"):
        await app.wix.start()
