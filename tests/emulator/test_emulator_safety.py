"""The emulator as a safe developer tool: a web page the developer visits cannot drive it.

The control API takes only ``application/json`` bodies (no cross-site form or
``text/plain`` POST), and only ``Host`` and ``Origin`` values on loopback (no DNS
rebinding), unless more are allowed on purpose. Host pages take only http(s) URLs and
escape what they echo. Every answer carries ``x-wix-request-id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from wixapp.emulator import EmulatorState, create_emulator

LOOPBACK = "http://127.0.0.1:8765"


@pytest.fixture
async def local(emulator: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client that reaches the emulator as a browser on this machine would."""
    transport = httpx.ASGITransport(app=emulator)
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        yield client


# ---- CSRF: only JSON bodies


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_control_api_refuses_bodies_that_are_not_json(
    local: httpx.AsyncClient, state: EmulatorState, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}

    response = await local.post("/_emulator/apps", content=b'{"appId": "x"}', headers=headers)

    assert response.status_code == 415
    assert response.json()["error"] == "emulator_json_only"
    assert state.find_app("x") is None


async def test_a_bodyless_post_needs_json_too(local: httpx.AsyncClient) -> None:
    # A cross-site <form method=post action=…/_emulator/reset> sends no JSON.
    response = await local.post("/_emulator/reset")

    assert response.status_code == 415


async def test_json_with_a_charset_is_json(local: httpx.AsyncClient, state: EmulatorState) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}

    response = await local.post("/_emulator/apps", content=b'{"appId": "x"}', headers=headers)

    assert response.status_code == 200
    assert state.find_app("x") is not None


# ---- DNS rebinding and cross-site origins


@pytest.mark.parametrize(
    "host", ["evil.example", "attacker.com:8765", "127.0.0.1.evil.example", "192.168.1.20:8765"]
)
async def test_control_api_refuses_a_foreign_host(
    local: httpx.AsyncClient, state: EmulatorState, host: str
) -> None:
    response = await local.post("/_emulator/apps", json={"appId": "x"}, headers={"Host": host})

    assert response.status_code == 403
    assert response.json()["error"] == "emulator_host_refused"
    assert state.find_app("x") is None


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "127.0.0.2"])
async def test_control_api_answers_loopback_hosts(local: httpx.AsyncClient, host: str) -> None:
    response = await local.get("/_emulator/clock", headers={"Host": host})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1.evil.example:8765"]
)
async def test_control_api_refuses_a_foreign_origin(
    local: httpx.AsyncClient, state: EmulatorState, origin: str
) -> None:
    response = await local.post("/_emulator/apps", json={"appId": "x"}, headers={"Origin": origin})

    assert response.status_code == 403
    assert response.json()["error"] == "emulator_origin_refused"
    assert state.find_app("x") is None


async def test_control_api_answers_its_own_pages(local: httpx.AsyncClient) -> None:
    headers = {"Origin": "http://localhost:8765"}

    response = await local.post("/_emulator/apps", json={"appId": "x"}, headers=headers)

    assert response.status_code == 200


async def test_host_pages_refuse_a_foreign_host(local: httpx.AsyncClient) -> None:
    response = await local.get("/site", headers={"Host": "evil.example"})

    assert response.status_code == 403


async def test_more_hosts_can_be_allowed_on_purpose() -> None:
    app = create_emulator(allowed_hosts=["devbox.lan", "192.168.1.20"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://devbox.lan:8765") as lan:
        headers = {"Origin": "http://192.168.1.20:8765"}
        response = await lan.post("/_emulator/apps", json={"appId": "x"}, headers=headers)
        refused = await lan.get("/_emulator/clock", headers={"Host": "evil.example"})

    assert response.status_code == 200
    assert refused.status_code == 403


async def test_the_wix_routes_answer_any_host(wix: httpx.AsyncClient) -> None:
    # A backend calls "www.wixapis.com" pointed at the emulator: that must keep working.
    response = await wix.post("/oauth2/token-info", json={"token": "nope"})

    assert response.status_code in (400, 401)


# ---- host pages: only http(s) URLs, everything echoed escaped


@pytest.mark.parametrize("page", ["/site", "/editor"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backend", "javascript:alert(document.domain)"),
        ("backend", "data:text/html,<script>alert(1)</script>"),
        ("backend", "JAVASCRIPT:alert(1)"),
        ("script", "javascript:alert(1)"),
        ("panel", "javascript:alert(1)"),
        ("tag", "img src=x onerror=alert(1)"),
    ],
)
async def test_host_pages_refuse_what_is_not_http(
    local: httpx.AsyncClient, page: str, name: str, value: str
) -> None:
    query = {"instanceId": "i", "appId": "a", "backend": "http://127.0.0.1:8000", name: value}

    response = await local.get(page, params=query)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert name in response.text
    assert "<script>" not in response.text


async def test_host_pages_escape_what_they_echo(local: httpx.AsyncClient) -> None:
    value = '"><script>alert(1)</script>'

    response = await local.get("/site", params={"backend": value, "appId": "a"})

    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


@pytest.mark.parametrize("page", ["/site", "/editor"])
async def test_host_pages_take_http_urls(local: httpx.AsyncClient, page: str) -> None:
    query = {
        "instanceId": "i",
        "appId": "a",
        "backend": "https://localhost:8443/prefix",
        "script": "/static/cli-widget.js",
        "panel": "http://127.0.0.1:9000/panel.html",
        "tag": "my-widget",
    }

    response = await local.get(page, params=query)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


# ---- x-wix-request-id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/oauth2/token-info", {"token": "nope"}),
        ("POST", "/oauth2/token", {"grant_type": "client_credentials"}),
        ("GET", "/apps/v1/instance", None),
        ("GET", "/_emulator/clock", None),
        ("POST", "/_emulator/apps", {"appId": "r"}),
        ("GET", "/site", None),
        ("GET", "/nowhere", None),
    ],
)
async def test_every_answer_has_a_request_id(
    local: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    first = await local.request(method, path, json=body)
    second = await local.request(method, path, json=body)

    assert first.headers["x-wix-request-id"]
    assert first.headers["x-wix-request-id"] != second.headers["x-wix-request-id"]


async def test_injected_faults_have_a_request_id_too(
    wix: httpx.AsyncClient, state: EmulatorState
) -> None:
    state.add_fault("token-info", status=503)

    response = await wix.post("/oauth2/token-info", json={"token": "x"})

    assert response.status_code == 503
    assert response.headers["x-wix-request-id"]


# ---- host pages: backends and scripts on this machine only, unless allowed on purpose


@pytest.mark.parametrize("page", ["/site", "/editor"])
@pytest.mark.parametrize("name", ["backend", "script", "panel"])
async def test_host_pages_refuse_another_hosts_code(
    local: httpx.AsyncClient, page: str, name: str
) -> None:
    query = {"instanceId": "i", "appId": "a", "backend": "http://127.0.0.1:8000"}
    query[name] = "https://attacker.example/widget.js"

    response = await local.get(page, params=query)

    assert response.status_code == 400
    assert name in response.text
    assert "--allow-host attacker.example" in response.text


@pytest.mark.parametrize("backend", ["http://localhost:8000", "http://[::1]:8000/"])
async def test_host_pages_take_loopback_backends(local: httpx.AsyncClient, backend: str) -> None:
    query = {"instanceId": "i", "appId": "a", "backend": backend, "script": "/static/w.js"}

    assert (await local.get("/site", params=query)).status_code == 200


async def test_host_pages_take_a_backend_allowed_on_purpose() -> None:
    app = create_emulator(allowed_hosts=["devbox.lan"])
    query = {"instanceId": "i", "appId": "a", "backend": "https://devbox.lan:8000"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=LOOPBACK
    ) as client:
        allowed = await client.get("/site", params=query)
        refused = await client.get("/site", params={**query, "backend": "https://other.lan"})

    assert (allowed.status_code, refused.status_code) == (200, 400)
