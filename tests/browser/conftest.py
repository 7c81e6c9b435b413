"""Browser-test fixtures: the stack on loopback ports and Debian's chromium via Playwright.

No Playwright routing anywhere: while a route is active Playwright answers CORS preflights
itself (wix-platform.md §10), which would hide a broken CORS policy. Chromium stays off the
internet through its host resolver instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from .stack import STATIC_DIR, Stack, start_stack

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
BUNDLES = [
    STATIC_DIR / "widget.js",
    STATIC_DIR / "widget-react.js",
    STATIC_DIR / "panel.js",
    ROOT / "src" / "wixapp" / "emulator" / "pages" / "editor-host.js",
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
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def problems() -> list[str]:
    """Page errors and console errors of every page the test opens (see ``page``)."""
    return []


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    """A page in a fresh browser context; its errors are collected in ``problems``."""
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
