"""An app's own PATCH and DELETE routes called from a Wix site page, cross-origin, through
the real CORS preflights Chromium sends (no Playwright routing anywhere)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from playwright.sync_api import Page
from starlette.responses import Response

from wixapp.models import Caller
from wixapp.server import current_caller

from .stack import RequestLog, Stack
from .test_widget_and_panel import site_url

pytestmark = pytest.mark.browser

# What a widget's fetchWithAuth sends: the raw token, a JSON body, the site's language.
CALL_FROM_THE_SITE = """
async ({url, method, token}) => {
  try {
    const response = await fetch(url, {
      method,
      headers: {Authorization: token, 'Content-Type': 'application/json', 'x-wix-linguist': 'en'},
      body: method === 'PATCH' ? JSON.stringify({name: 'renamed'}) : undefined,
    });
    return {status: response.status, body: await response.text()};
  } catch (error) {
    return {status: 0, body: String(error)};
  }
}
"""


def add_item_routes(app: FastAPI) -> None:
    names: dict[tuple[str, int], str] = {}  # (instance, item): name, in memory

    @app.patch("/api/items/{item_id}")
    async def rename(
        item_id: int, body: dict[str, Any], caller: Annotated[Caller, Depends(current_caller)]
    ) -> dict[str, Any]:
        names[(caller.instance_id, item_id)] = str(body["name"])
        return {"id": item_id, "name": names[(caller.instance_id, item_id)]}

    @app.delete("/api/items/{item_id}", status_code=204)
    async def remove(item_id: int, caller: Annotated[Caller, Depends(current_caller)]) -> Response:
        names.pop((caller.instance_id, item_id), None)
        return Response(status_code=204)


def call(page: Page, url: str, method: str, token: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        CALL_FROM_THE_SITE, {"url": url, "method": method, "token": token}
    )
    return result


def test_patch_and_delete_to_the_apps_own_route_pass_a_real_preflight(
    stack: Stack, page: Page
) -> None:
    log = RequestLog()
    backend = stack.start_backend("app-routes", log=log, add_routes=add_item_routes)
    bakery = stack.sites["bakery"]
    token = stack.call(lambda control: control.mint_token(bakery.instance_id, "USER")).token
    page.goto(site_url(stack, bakery, backend=backend.url))  # the site's origin

    # Two URLs: Chromium caches a preflight's answer per URL, so each gets its own.
    patched = call(page, f"{backend.url}/api/items/1", "PATCH", token)
    deleted = call(page, f"{backend.url}/api/items/2", "DELETE", token)

    assert patched == {"status": 200, "body": '{"id":1,"name":"renamed"}'}
    assert deleted == {"status": 204, "body": ""}
    seen = [
        (s.method, s.headers.get("access-control-request-method"), s.status)
        for s in log.snapshot()
        if s.path.startswith("/api/items/")
    ]
    assert seen == [
        ("OPTIONS", "PATCH", 200),
        ("PATCH", None, 200),
        ("OPTIONS", "DELETE", 200),
        ("DELETE", None, 204),
    ]
    preflight = next(s for s in log.snapshot() if s.method == "OPTIONS")
    assert preflight.headers["origin"] == stack.emulator_url
    assert "PATCH" in preflight.response_headers["access-control-allow-methods"]


def test_a_backend_that_narrows_the_methods_refuses_delete_in_the_browser(
    stack: Stack, page: Page
) -> None:
    """The control: with WIXAPP_CORS_METHODS leaving DELETE out, Chromium refuses it."""
    log = RequestLog()
    backend = stack.start_backend(
        "narrowed", log=log, add_routes=add_item_routes, WIXAPP_CORS_METHODS="GET,PATCH"
    )
    bakery = stack.sites["bakery"]
    token = stack.call(lambda control: control.mint_token(bakery.instance_id, "USER")).token
    page.goto(site_url(stack, bakery, backend=backend.url))

    assert call(page, f"{backend.url}/api/items/1", "PATCH", token)["status"] == 200
    refused = call(page, f"{backend.url}/api/items/2", "DELETE", token)

    assert refused["status"] == 0  # fetch threw: the browser never sent the DELETE
    assert "Failed to fetch" in refused["body"]
    methods = [(s.method, s.status) for s in log.snapshot() if s.path == "/api/items/2"]
    assert methods == [("OPTIONS", 400)]
