"""In a real browser: the emulator's Wix site, Wix editor and Wix dashboard pages host this
app's own widget, panel and dashboard page (the production bundles from
src/wixnew_app/static/), served by its backend on another origin, so every call is a real
cross-origin request with a CORS preflight. The dashboard host is served over HTTPS as
https://manage.wix.com (what @wix/dashboard requires), which chromium reaches on loopback.

Needs Debian's chromium (``make test`` installs it); Playwright never downloads a browser.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright
from wixapp.emulator import DashboardServer, EmulatorControl, create_emulator
from wixapp.emulator.dashboard_tls import chromium_flags
from wixapp.testing import serving, settings_for_emulator

from wixnew_app.main import STATIC_DIR, create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
BASE_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
CHROMIUM_ARGS = [
    *BASE_ARGS,
    # Offline: only loopback resolves (never Playwright routing, which would answer CORS).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
WIDGET = {"tag": "wixnew-app-widget", "script": "/assets/widget.js", "panel": "/assets/panel.html"}


@dataclass
class Stack:
    emulator_url: str
    backend_url: str
    app_id: str
    instance_id: str
    control: EmulatorControl
    dashboard: DashboardServer

    def page_url(self, page: str) -> str:
        query = {
            "instanceId": self.instance_id,
            "backend": self.backend_url,
            "appId": self.app_id,
            **WIDGET,
        }
        return f"{self.emulator_url}/{page}?{urlencode(query)}"


@pytest.fixture
def built() -> None:
    if not (STATIC_DIR / "widget.js").is_file():
        pytest.fail("The widget is not built: run `make frontend`.")


@pytest.fixture
async def stack(built: None, tmp_path: Path) -> AsyncIterator[Stack]:
    emulator = create_emulator()
    async with (
        serving(emulator) as emulator_url,
        EmulatorControl.for_url(emulator_url) as control,
    ):
        registered = await control.register_app()
        site = await control.create_site(display_name="Bakery")
        installation = await control.install(registered.app_id, site.site_id)
        settings = settings_for_emulator(
            registered, base_url=emulator_url, database_url=f"sqlite:///{tmp_path / 'app.db'}"
        )
        async with serving(create_app(settings)) as backend_url:
            with DashboardServer(emulator, folder=tmp_path / "tls") as dashboard:
                yield Stack(
                    emulator_url,
                    backend_url,
                    registered.app_id,
                    installation.instance_id,
                    control,
                    dashboard,
                )


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
async def page(chromium: Path, stack: Stack) -> AsyncIterator[Page]:
    # Offline but for loopback, where manage.wix.com leads to the emulator's dashboard host.
    args = [*BASE_ARGS, *chromium_flags(stack.dashboard.port, offline=True)]
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=args
        )
        context = await browser.new_context()
        context.set_default_timeout(15_000)
        yield await context.new_page()
        await browser.close()


async def test_the_owner_edits_notes_in_the_panel_and_the_sites_widget_shows_them(
    stack: Stack, page: Page
) -> None:
    # The editor: the panel (in an iframe) adds two notes, pins one (PATCH), deletes one (DELETE).
    await page.goto(stack.page_url("editor"))
    panel = page.frame_locator("iframe")
    await panel.locator("#panel[data-state=ready]").wait_for()
    for text in ("Open on Sunday", "Closed on Monday"):
        await panel.locator("#new-note").fill(text)
        await panel.locator("#add-form button").click()
        await panel.locator("#panel[data-state=ready]").wait_for()
    await panel.locator("#panel[data-note-count='2']").wait_for()
    await panel.locator("li").nth(1).locator("[data-action=pin]").click()
    await panel.locator("#panel[data-state=ready]").wait_for()
    await panel.locator("li").nth(1).locator("[data-action=delete]").click()
    await panel.locator("#panel[data-note-count='1']").wait_for()

    # The site: a visitor's widget lists what is left, fetched with the visitor's token.
    await page.goto(stack.page_url("site"))
    widget = page.locator("wixnew-app-widget[data-state=ready]")
    await widget.wait_for()
    assert await widget.get_attribute("data-note-count") == "1"
    assert await widget.locator("li").all_inner_texts() == ["Closed on Monday"]

    # And the backend agrees.
    visitor = await stack.control.mint_token(stack.instance_id, "VISITOR")
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{stack.backend_url}/api/notes", headers={"Authorization": visitor.token}
        )
    assert [note["text"] for note in answer.json()["notes"]] == ["Closed on Monday"]


async def test_the_owner_manages_notes_in_the_dashboard(stack: Stack, page: Page) -> None:
    page_url = f"{stack.backend_url}/assets/dashboard.html"
    await page.goto(stack.dashboard.dashboard_url(stack.app_id, stack.instance_id, page_url))
    dashboard = page.frame_locator("iframe")
    await dashboard.locator("#dashboard[data-state=ready]").wait_for()

    for text in ("Open on Sunday", "Closed on Monday"):  # create
        await dashboard.locator("#new-note").fill(text)
        await dashboard.locator("#add-form button").click()
        await dashboard.locator("#dashboard[data-state=ready]").wait_for()
    await dashboard.locator("#dashboard[data-note-count='2']").wait_for()
    first = dashboard.locator("tr").nth(0)  # edit
    await first.locator("input").fill("Open on Sunday and Monday")
    await first.locator("[data-action=save]").click()
    await dashboard.locator("#dashboard[data-state=ready]").wait_for()
    await dashboard.locator("tr").nth(1).locator("[data-action=delete]").click()  # delete
    await dashboard.locator("#dashboard[data-note-count='1']").wait_for()

    toasts = await page.evaluate("window.wixHost.toasts.map((toast) => toast.message)")
    assert toasts == ["Note added", "Note added", "Note saved", "Note deleted"]
    owner = await stack.control.mint_token(stack.instance_id, "USER")
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{stack.backend_url}/api/notes", headers={"Authorization": owner.token}
        )
    assert [note["text"] for note in answer.json()["notes"]] == ["Open on Sunday and Monday"]
