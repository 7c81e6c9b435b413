"""``GET /``: the emulator's index page lists apps, sites and the links to their pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from wixapp.emulator import EmulatorState


def _links(page: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in page.split('href="')[1:]]


async def test_index_lists_apps_sites_and_links_to_each_site_and_editor_page(
    control_http: httpx.AsyncClient, state: EmulatorState
) -> None:
    app = state.register_app()
    bakery = state.create_site(display_name="Bakery <&> Co")
    installed = state.install(app.app_id, bakery.site_id)

    page = await control_http.get(
        "/",
        params={"backend": "http://127.0.0.1:8000/", "tag": "notes-widget", "script": "/a/w.js"},
    )

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert app.app_id in page.text
    assert "Bakery &lt;&amp;&gt; Co" in page.text  # escaped, never markup
    links = [link.replace("&amp;", "&") for link in _links(page.text)]
    assert [urlsplit(link).path for link in links] == ["/site", "/editor"]
    for link in links:
        assert parse_qs(urlsplit(link).query) == {
            "instanceId": [installed.instance_id],
            "backend": ["http://127.0.0.1:8000"],
            "appId": [app.app_id],
            "tag": ["notes-widget"],
            "script": ["/a/w.js"],
        }


async def test_index_without_an_http_backend_links_nowhere_and_asks_for_one(
    control_http: httpx.AsyncClient, state: EmulatorState
) -> None:
    app = state.register_app()
    state.install(app.app_id, state.create_site().site_id)

    for backend in ("", "javascript:alert(1)", '"><script>alert(1)</script>'):
        page = await control_http.get("/", params={"backend": backend})
        assert _links(page.text) == []
        assert "set the backend above" in page.text
        assert "<script>" not in page.text


async def test_index_of_an_empty_emulator(control_http: httpx.AsyncClient) -> None:
    page = await control_http.get("/")
    assert page.text.count("none yet") == 2
