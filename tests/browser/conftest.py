"""Browser-test fixtures: the stack on loopback ports and Debian's chromium via Playwright.

No Playwright routing anywhere: while a route is active Playwright answers CORS preflights
itself (wix-platform.md §10), which would hide a broken CORS policy. Chromium stays off the
internet through its host resolver instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from wixapp.emulator.dashboard_tls import chromium_flags

from .stack import STATIC_DIR, Stack, start_stack

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
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
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
BUNDLES = [
    STATIC_DIR / "widget.js",
    STATIC_DIR / "widget-react.js",
    STATIC_DIR / "panel.js",
    ROOT / "src" / "wixapp" / "emulator" / "pages" / "editor-host.js",
    ROOT / "src" / "wixapp" / "emulator" / "pages" / "dashboard-host.js",
    STATIC_DIR / "dashboard.js",
]


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, which would break every asyncio test collected after these.
@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = [str(path.relative_to(ROOT)) for path in BUNDLES if not path.is_file()]
    if missing:
        pytest.fail(f"Frontend bundles are not built ({', '.join(missing)}): run `make frontend`.")
    running = start_stack(tmp_path_factory.mktemp("browser-db"))
    yield running
    running.stop()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def dashboard_browser(playwright: Playwright, stack: Stack) -> Iterator[Browser]:
    """Chromium that reaches the emulator's dashboard host as https://manage.wix.com (its
    certificate accepted) and no other name but loopback."""
    assert stack.emulator.dashboard is not None
    flags = chromium_flags(stack.emulator.dashboard.port, offline=True)
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*BASE_ARGS, *flags])
    yield launched
    launched.close()


@pytest.fixture
def problems() -> list[str]:
    """Page errors and console errors of every page the test opens (see ``page``)."""
    return []


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    """A page in a fresh browser context; its errors are collected in ``problems``."""
    yield from _watched_page(browser, problems)


@pytest.fixture
def dashboard_page(dashboard_browser: Browser, problems: list[str]) -> Iterator[Page]:
    """A page of ``dashboard_browser``, its errors collected in ``problems``."""
    yield from _watched_page(dashboard_browser, problems)


def _watched_page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(15_000)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text} ({message.location.get('url', '?')})")

    def watch(opened: Page) -> None:
        opened.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
        opened.on("console", on_console)

    context.on("page", watch)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
