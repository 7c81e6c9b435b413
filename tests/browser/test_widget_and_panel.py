"""The production widget and settings panel in real chromium, on the emulator's Wix pages.

The emulator plays the Wix site (/site) and editor (/editor) on one origin; the backend
serves the bundles, the panel and the API on another. So every widget call is cross-origin
with a real CORS preflight, and the panel runs in a cross-origin iframe as in the editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from .stack import SiteInstall, Stack

pytestmark = pytest.mark.browser

# A panel in an iframe adds a stylesheet from a public CDN; offline it fails, harmlessly.
HARMLESS = ("unpkg.com", "ERR_NAME_NOT_RESOLVED")


def site_url(stack: Stack, site: SiteInstall, backend: str | None = None, **extra: str) -> str:
    query = {
        "instanceId": site.instance_id,
        "backend": backend or stack.backend_url,
        "appId": stack.app_id,
        **extra,
    }
    return f"{stack.emulator_url}/site?{urlencode(query)}"


def editor_url(stack: Stack, site: SiteInstall, **extra: str) -> str:
    query = {
        "instanceId": site.instance_id,
        "backend": stack.backend_url,
        "appId": stack.app_id,
        **extra,
    }
    return f"{stack.emulator_url}/editor?{urlencode(query)}"


def real_problems(problems: list[str]) -> list[str]:
    return [problem for problem in problems if not any(word in problem for word in HARMLESS)]


def open_panel(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.frame_locator("#panel-frame").locator("#panel")).to_have_attribute(
        "data-state", "ready"
    )


# ---- the widget


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER"])
def test_widget_shows_the_instance_its_backend_identified(
    stack: Stack, page: Page, problems: list[str], screenshots: Path, subject: str
) -> None:
    bakery = stack.sites["bakery"]

    page.goto(site_url(stack, bakery, subject=subject))

    widget = page.locator("wixapp-widget[data-state=ready]")
    expect(widget).to_have_attribute("data-instance-id", bakery.instance_id)
    expect(widget.locator(".wixapp-instance-id")).to_have_text(bakery.instance_id)
    expect(widget.locator(".wixapp-greeting")).not_to_be_empty()
    # One request per page view, and the host's getter asked for its token.
    assert page.evaluate("window.wixHost.tokensMinted") == 1
    assert real_problems(problems) == []
    page.screenshot(path=screenshots / f"widget-{subject.lower()}.png")


def test_react_widget_shows_the_instance_too(
    stack: Stack, page: Page, problems: list[str], screenshots: Path
) -> None:
    bikes = stack.sites["bikes"]

    page.goto(site_url(stack, bikes, kind="react"))

    widget = page.locator("wixapp-widget-react[data-state=ready]")
    expect(widget).to_have_attribute("data-instance-id", bikes.instance_id)
    expect(widget.locator(".wixapp-instance-id")).to_have_text(bikes.instance_id)
    assert real_problems(problems) == []
    page.screenshot(path=screenshots / "widget-react.png")


def test_widget_with_a_revoked_token_shows_its_error(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    bakery = stack.sites["bakery"]
    token = stack.call(lambda control: control.mint_token(bakery.instance_id, "VISITOR")).token
    stack.call(lambda control: control.revoke_token(token))

    page.goto(site_url(stack, bakery, token=token))

    widget = page.locator("wixapp-widget[data-state=error]")
    expect(widget).to_have_attribute("data-error-status", "401")
    expect(widget.locator("[role=alert]")).to_contain_text("401 Unauthorized")
    expect(widget).not_to_have_attribute("data-instance-id", bakery.instance_id)
    page.screenshot(path=screenshots / "widget-error-revoked.png")


def test_widget_requests_carry_the_raw_token_and_pass_a_real_cors_preflight(
    stack: Stack, page: Page, problems: list[str]
) -> None:
    """No Playwright routing here: with a route active, Playwright answers preflights itself."""
    bakery = stack.sites["bakery"]
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))  # no preflights here
    devtools = watch_devtools(page)  # Chromium's own view, preflights included
    stack.backend_log.clear()

    page.goto(site_url(stack, bakery))
    expect(page.locator("wixapp-widget")).to_have_attribute("data-state", "ready")

    api = [r for r in requests if r.url.startswith(f"{stack.backend_url}/api/")]
    # One request per page view: the settings answer names the instance.
    assert [urlsplit(r.url).path for r in api] == ["/api/settings"]
    tokens = set()
    for request in api:
        headers = request.all_headers()
        authorization = headers["authorization"]
        assert authorization
        assert not authorization.lower().startswith("bearer"), authorization[:20]
        assert headers["origin"] == stack.emulator_url  # cross-origin: the page's origin
        assert "x-wix-linguist" in headers  # the site's language, as on a Wix site
        response = request.response()
        assert response is not None
        assert response.status == 200
        assert response.headers.get("access-control-allow-origin") in ("*", stack.emulator_url)
        tokens.add(authorization)
    assert len(tokens) == len(api)  # the host's getter was asked before every request

    sent = [(r["method"], urlsplit(r["url"]).path) for r in devtools.requests]
    assert ("OPTIONS", "/api/settings") in sent
    assert devtools.cors_errors == []

    preflights = [seen for seen in stack.backend_log.snapshot() if seen.method == "OPTIONS"]
    assert {seen.path for seen in preflights} == {"/api/settings"}
    for seen in preflights:
        assert seen.headers["origin"] == stack.emulator_url
        asked = {h.strip() for h in seen.headers["access-control-request-headers"].split(",")}
        assert {"authorization", "x-wix-linguist"} <= asked
        assert seen.status == 200
        allowed = seen.response_headers["access-control-allow-headers"].lower()
        assert all(header in allowed for header in asked)
    assert real_problems(problems) == []


def test_widget_is_refused_by_a_backend_whose_cors_policy_excludes_the_site(
    stack: Stack, page: Page
) -> None:
    """The control for the test above: a CORS failure is visible in this set-up."""
    strict = stack.start_backend("strict", WIXAPP_CORS_ORIGINS="https://another-site.example")
    devtools = watch_devtools(page)

    page.goto(site_url(stack, stack.sites["bakery"], backend=strict.url))

    widget = page.locator("wixapp-widget[data-state=error]")
    expect(widget).to_have_attribute("data-error-status", "0")
    expect(widget.locator("[role=alert]")).to_contain_text("Could not reach the app's backend")
    assert devtools.cors_errors  # refused by the browser's CORS check, not by anything else


# ---- the settings panel


def test_panel_saves_a_greeting_that_only_the_same_sites_widget_shows(
    stack: Stack, page: Page, problems: list[str], screenshots: Path
) -> None:
    bakery, bikes = stack.sites["bakery"], stack.sites["bikes"]
    greeting = f"Fresh bread every morning ({uuid4().hex[:6]})"
    page.goto(site_url(stack, bakery))
    site_widget = page.locator("wixapp-widget[data-state=ready]")
    expect(site_widget).to_have_attribute("data-instance-id", bakery.instance_id)
    expect(site_widget.locator(".wixapp-greeting")).not_to_have_text(greeting)

    editor = page.context.new_page()
    open_panel(editor, editor_url(stack, bakery))
    panel = editor.frame_locator("#panel-frame")
    expect(panel.locator("#instance-id")).to_have_text(bakery.instance_id)
    panel.locator("#greeting").fill(greeting)
    panel.locator("#save").click()
    expect(panel.locator("#panel")).to_have_attribute("data-state", "saved")
    expect(panel.locator("#current-greeting")).to_have_text(greeting)
    # The panel told the widget on the canvas (widget.setProp), which reloaded.
    expect(editor.locator("#canvas wixapp-widget .wixapp-greeting")).to_have_text(greeting)
    assert editor.evaluate("window.wixHost.initialized") is True
    editor.locator("#panel-frame").screenshot(path=screenshots / "panel.png")
    editor.screenshot(path=screenshots / "editor.png")

    page.reload()
    expect(site_widget.locator(".wixapp-greeting")).to_have_text(greeting)
    page.screenshot(path=screenshots / "widget-after-save.png")

    page.goto(site_url(stack, bikes))
    expect(site_widget).to_have_attribute("data-instance-id", bikes.instance_id)
    expect(site_widget.locator(".wixapp-greeting")).not_to_have_text(greeting)
    assert real_problems(problems) == []


def test_panel_reloads_the_settings_after_a_conflicting_save(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    bikes = stack.sites["bikes"]
    open_panel(page, editor_url(stack, bikes, canvas="0"))
    panel = page.frame_locator("#panel-frame")

    theirs = f"Saved elsewhere ({uuid4().hex[:6]})"
    save_directly(stack, bikes, theirs)  # a collaborator saves while this panel is open
    panel.locator("#greeting").fill("Mine")
    panel.locator("#save").click()

    expect(panel.locator("#panel")).to_have_attribute("data-state", "conflict")
    expect(panel.locator("#message")).to_contain_text("changed these settings")
    expect(panel.locator("#current-greeting")).to_have_text(theirs)
    expect(panel.locator("#greeting")).to_have_value("Mine")  # the draft is kept
    page.locator("#panel-frame").screenshot(path=screenshots / "panel-conflict.png")

    panel.locator("#save").click()  # now with the fresh ETag
    expect(panel.locator("#panel")).to_have_attribute("data-state", "saved")
    expect(panel.locator("#current-greeting")).to_have_text("Mine")


def test_panel_shows_the_refusal_when_the_caller_is_not_a_wix_user(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    bakery = stack.sites["bakery"]
    open_panel(page, editor_url(stack, bakery, subject="VISITOR", canvas="0"))
    panel = page.frame_locator("#panel-frame")

    panel.locator("#greeting").fill("Not mine to change")
    panel.locator("#save").click()

    expect(panel.locator("#panel")).to_have_attribute("data-state", "error")
    expect(panel.locator("#message")).to_contain_text("403 Forbidden")
    expect(panel.locator("#current-greeting")).not_to_have_text("Not mine to change")
    page.locator("#panel-frame").screenshot(path=screenshots / "panel-forbidden.png")


@dataclass
class DevtoolsLog:
    requests: list[dict[str, Any]] = field(default_factory=list)
    cors_errors: list[dict[str, Any]] = field(default_factory=list)


def watch_devtools(page: Page) -> DevtoolsLog:
    """Record what Chromium sent, through the DevTools protocol (it reports preflights)."""
    log = DevtoolsLog()
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.on("Network.requestWillBeSent", lambda event: log.requests.append(event["request"]))
    session.on(
        "Network.loadingFailed",
        lambda event: (
            log.cors_errors.append(event["corsErrorStatus"])
            if event.get("corsErrorStatus")
            else None
        ),
    )
    return log


def save_directly(stack: Stack, site: SiteInstall, greeting: str) -> None:
    token = stack.call(lambda control: control.mint_token(site.instance_id, "USER")).token
    url = f"{stack.backend_url}/api/settings"
    current = httpx.get(url, headers={"Authorization": token})
    current.raise_for_status()
    saved = httpx.put(
        url,
        json={**current.json()["settings"], "greeting": greeting},
        headers={"Authorization": token, "If-Match": current.headers["ETag"]},
    )
    saved.raise_for_status()
