"""The app's own browser code, served by the backend: widget bundles, the settings panel and
the dashboard page.

These are what a user deploys (Wix loads the widget script and the panel page from the
app's backend). The pages that play the Wix site and editor are the emulator's, not here.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse

__all__ = ["STATIC_DIR", "frontend_router"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

frontend_router = APIRouter()


@frontend_router.get("/panel", include_in_schema=False)
async def settings_panel() -> FileResponse:
    """The settings panel page the Wix editor loads in an iframe."""
    return FileResponse(STATIC_DIR / "panel.html", media_type="text/html; charset=utf-8")


@frontend_router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    """The dashboard page the site's Wix dashboard loads in an iframe (@wix/dashboard)."""
    return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html; charset=utf-8")
