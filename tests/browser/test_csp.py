"""The backend's Content-Security-Policy lets Wix's own scripts work: @wix/editor's frame API
adds Wix's design-system stylesheet to the settings panel, and the policy allows it (offline
the request then fails on name resolution, never on the policy)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, Request, expect

from .stack import Stack

pytestmark = pytest.mark.browser

DESIGN_SYSTEM = "https://www.unpkg.com/@wix/design-system/dist/statics/"


def test_the_panel_loads_wix_design_system_styles_with_no_csp_error(
    stack: Stack, page: Page, problems: list[str]
) -> None:
    failures: dict[str, str] = {}

    def on_failed(request: Request) -> None:
        failures[request.url] = request.failure or ""

    page.on("requestfailed", on_failed)
    bakery = stack.sites["bakery"]
    query = {"instanceId": bakery.instance_id, "backend": stack.backend_url, "appId": stack.app_id}
    page.goto(f"{stack.emulator_url}/editor?{urlencode(query)}")
    expect(page.frame_locator("#panel-frame").locator("#panel")).to_have_attribute(
        "data-state", "ready"
    )

    styles = {url: why for url, why in failures.items() if url.startswith(DESIGN_SYSTEM)}
    assert any(url.endswith("tokens-studio.global.css") for url in styles), failures
    assert all("CSP" not in why and "BLOCKED" not in why for why in styles.values()), styles
    assert [problem for problem in problems if "Content Security Policy" in problem] == []
