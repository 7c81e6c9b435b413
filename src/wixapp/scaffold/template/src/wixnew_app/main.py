"""The backend: wixapp's ready backend (identification, settings, webhooks) plus this app's
own routes, tables, migrations and browser bundles.

Run it with ``wixapp serve --app wixnew_app.main:create_app --factory`` (``make serve``).
"""

from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from wixapp import Settings
from wixapp.server import create_app as create_wixapp

from wixnew_app.notes import LIST_NOTES, notes_lifespan, purge_notes_on_removal
from wixnew_app.notes import router as notes_router

STATIC_DIR = Path(__file__).with_name("static")
MIGRATIONS = "wixnew_app:migrations"  # run after wixapp's own at start and by `wixapp migrate`
ASSETS = "/assets"  # the widget script, the panel page and its script (built by `make frontend`)


def create_app(
    settings: Settings | None = None,
    *,
    wix_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """The app. ``settings`` default to the environment (``WIX_APP_ID``, ...); tests pass
    the emulator's settings, transport and clock (see tests/conftest.py), so moving the
    emulator's clock moves the backend's too (token expiry, caches, retention)."""
    app = create_wixapp(
        settings,
        wix_transport=wix_transport,
        clock=clock,
        migrations=MIGRATIONS,
        lifespan=notes_lifespan,  # the cache of each site's notes
        lean_routes=[LIST_NOTES],  # the widget's GET, on every page view
    )
    app.include_router(notes_router)
    purge_notes_on_removal(app)
    app.mount(ASSETS, StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="assets")
    return app
