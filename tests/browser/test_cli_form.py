"""The same app written in the new Wix CLI's form, run unchanged in the host pages.

The widgets (a custom element class and a React component wrapped by react-to-webcomponent)
and the settings panel call the backend with ``httpClient.fetchWithAuth`` from
``@wix/essentials``; the bundles set the Wix client context as the CLI's runtime does
(``frontend/src/cli/runtime-*.js``). The host pages load them through their ``tag``,
``script`` and ``panel`` parameters, next to today's ``@wix/sdk`` form.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode, urlsplit
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from .stack import SiteInstall, Stack
from .test_widget_and_panel import real_problems, save_directly

pytestmark = pytest.mark.browser

CLI_FORMS = {
    "element": ("wixapp-cli-widget", "/static/cli-widget.js"),
    "react": ("wixapp-cli-widget-react", "/static/cli-widget-react.js"),
}


def page_url(stack: Stack, page: str, site: SiteInstall, **extra: str) -> str:
    query = {
        "instanceId": site.instance_id,
        "backend": stack.backend_url,
        "appId": stack.app_id,
        **extra,
    }
    return f"{stack.emulator_url}/{page}?{urlencode(query)}"


@pytest.mark.parametrize("form", list(CLI_FORMS))
def test_cli_form_widget_runs_in_the_site_page(
    stack: Stack, page: Page, problems: list[str], screenshots: Path, form: str
) -> None:
    bakery = stack.sites["bakery"]
    tag, script = CLI_FORMS[form]
    greeting = f"Hello from the CLI form ({uuid4().hex[:6]})"
    save_directly(stack, bakery, greeting)

    page.goto(page_url(stack, "site", bakery, tag=tag, script=script))

    widget = page.locator(f"{tag}[data-state=ready]")
    expect(widget).to_have_attribute("data-instance-id", bakery.instance_id)
    expect(widget.locator(".cli-instance-id")).to_have_text(bakery.instance_id)
    expect(widget.locator(".cli-greeting")).to_have_text(greeting)
    assert page.evaluate("window.wixHost.tokensMinted") >= 2  # fetchWithAuth asked each time
    assert real_problems(problems) == []
    page.screenshot(path=screenshots / f"cli-widget-{form}.png")


def test_cli_form_widget_sends_the_raw_token_cross_origin(stack: Stack, page: Page) -> None:
    bikes = stack.sites["bikes"]
    tag, script = CLI_FORMS["element"]
    stack.backend_log.clear()

    page.goto(page_url(stack, "site", bikes, tag=tag, script=script))
    expect(page.locator(tag)).to_have_attribute("data-state", "ready")

    api = [seen for seen in stack.backend_log.snapshot() if seen.path.startswith("/api/")]
    gets = [seen for seen in api if seen.method == "GET"]
    assert {seen.path for seen in gets} == {"/api/get-instance", "/api/settings"}
    for seen in gets:
        assert seen.headers["authorization"].startswith("OauthNG.JWS.")
        assert seen.headers["origin"] == stack.emulator_url
        assert seen.status == 200
    assert any(seen.method == "OPTIONS" for seen in api)  # a real CORS preflight


def test_cli_form_panel_saves_through_fetch_with_auth(
    stack: Stack, page: Page, problems: list[str], screenshots: Path
) -> None:
    bikes = stack.sites["bikes"]
    tag, script = CLI_FORMS["element"]
    greeting = f"Saved by the CLI panel ({uuid4().hex[:6]})"
    url = page_url(stack, "editor", bikes, panel="/static/cli-panel.html", tag=tag, script=script)

    page.goto(url)
    panel = page.frame_locator("#panel-frame")
    expect(panel.locator("#panel")).to_have_attribute("data-state", "ready")
    expect(panel.locator("#instance-id")).to_have_text(bikes.instance_id)
    panel.locator("#greeting").fill(greeting)
    panel.locator("#save").click()

    expect(panel.locator("#panel")).to_have_attribute("data-state", "saved")
    # widget.setProp from @wix/editor reached the canvas: its CLI widget loaded again.
    expect(page.locator(f"#canvas {tag} .cli-greeting")).to_have_text(greeting)
    assert page.evaluate("window.wixHost.attributes")["settings-version"]
    assert real_problems(problems) == []
    page.screenshot(path=screenshots / "cli-editor.png")


def test_site_page_hosts_any_tag_and_script(stack: Stack, page: Page) -> None:
    """A user's own widget: any custom element name, any script URL on their backend."""
    bakery = stack.sites["bakery"]
    # Today's React bundle also defines <wixapp-widget-react>: host it by tag and script only.
    url = page_url(
        stack, "site", bakery, tag="wixapp-widget-react", script="/static/widget-react.js"
    )

    page.goto(url)

    widget = page.locator("wixapp-widget-react[data-state=ready]")
    expect(widget).to_have_attribute("data-instance-id", bakery.instance_id)
    assert page.evaluate("window.wixHost.config.tag") == "wixapp-widget-react"


def test_site_page_refuses_a_javascript_backend(stack: Stack, page: Page) -> None:
    bakery = stack.sites["bakery"]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    query = {
        "instanceId": bakery.instance_id,
        "appId": stack.app_id,
        "backend": "javascript:alert(1)//",
    }
    response = page.goto(f"{stack.emulator_url}/editor?{urlencode(query)}")

    assert response is not None
    assert response.status == 400
    assert dialogs == []
    assert page.locator("iframe").count() == 0


@pytest.mark.parametrize("name", ["backend", "script"])
def test_site_page_runs_no_code_from_another_host(stack: Stack, page: Page, name: str) -> None:
    """A link to the emulator's page naming an attacker's backend or script must not run it
    on the emulator's origin (beside the control API); a loopback backend still works."""
    bakery = stack.sites["bakery"]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    foreign = {name: "http://attacker.example:9/widget.js"}

    refused = page.goto(page_url(stack, "site", bakery, **foreign))
    assert refused is not None
    assert refused.status == 400
    expect(page.locator("li")).to_contain_text("--allow-host attacker.example")
    assert page.evaluate("typeof window.wixHost") == "undefined"  # the host script never ran

    page.goto(page_url(stack, "site", bakery))
    widget = page.locator("wixapp-widget[data-state=ready]")
    expect(widget).to_have_attribute("data-instance-id", bakery.instance_id)
    assert [url for url in requested if urlsplit(url).hostname == "attacker.example"] == []
