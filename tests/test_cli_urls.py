"""``wixapp urls --base``: what to enter in the Wix app dashboard, paths the backend serves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wixapp.cli import main
from wixapp.config import Settings
from wixapp.server import create_app

BASE = "https://abc.example.com"


def printed_urls(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    assert main(["urls", "--base", BASE + "/", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("  ", 1) for line in lines if "  " in line]
    return {label.strip(): value.strip() for label, value in rows}


def test_each_surface_and_the_webhooks_get_a_url_under_the_base(
    capsys: pytest.CaptureFixture[str],
) -> None:
    urls = printed_urls(capsys)

    assert urls["Custom element widget: script URL"] == f"{BASE}/static/widget.js"
    assert urls["Custom element widget: tag name"] == "wixapp-widget"
    assert urls["Widget settings panel: panel URL"] == f"{BASE}/panel"
    assert urls["Webhooks: callback URL (every event)"] == f"{BASE}/webhooks"


def test_an_apps_own_surfaces_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    urls = printed_urls(
        capsys, "--widget-script", "/assets/w.js", "--panel", "/settings", "--widget-tag", "my-w"
    )

    assert urls["Custom element widget: script URL"] == f"{BASE}/assets/w.js"
    assert urls["Widget settings panel: panel URL"] == f"{BASE}/settings"
    assert urls["Custom element widget: tag name"] == "my-w"


def test_a_plain_http_base_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["urls", "--base", "http://abc.example.com"]) == 2
    assert capsys.readouterr().err.strip() == (
        "wixapp: --base http://abc.example.com: Wix loads app surfaces over https only"
    )


@pytest.mark.anyio
async def test_the_backend_serves_the_default_paths(
    capsys: pytest.CaptureFixture[str], wix_settings: Settings, wix_backend: Any
) -> None:
    urls = printed_urls(capsys)
    app = create_app(wix_settings)
    async with wix_backend(app) as client:
        for label in ("Custom element widget: script URL", "Widget settings panel: panel URL"):
            response: httpx.Response = await client.get(urls[label].removeprefix(BASE))
            assert response.status_code == 200, label
        webhook = await client.post("/webhooks", content="not a jwt")
        assert webhook.status_code == 400  # the route is there: it refuses junk
