"""The lean route table: its FastAPI declarations (generated from it) run its code and answer
exactly as the edge's lean path does, OpenAPI and validation come from one query model, and
settings come from the cache a write invalidates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.server.middleware import EdgeMiddleware
from wixapp.server.state import ServerState
from wixapp.store._schema import settings as settings_table
from wixapp.store._urls import async_database_url
from wixapp.testing import TokenFactory, open_backend

from .conftest import AppFactory

COMPARED = (
    "content-type",
    "etag",
    "cache-control",
    "www-authenticate",
    "retry-after",
    "vary",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "x-content-type-options",
)


def _edge(app: FastAPI) -> EdgeMiddleware:
    layer: Any = app.middleware_stack
    while not isinstance(layer, EdgeMiddleware):
        layer = layer.app
    return layer


def _seen(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {name: response.headers[name] for name in COMPARED if name in response.headers}
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]  # once
    return response.status_code, response.json(), headers


@pytest.fixture
async def app(make_app: AppFactory) -> AsyncIterator[FastAPI]:
    built = make_app()
    async with open_backend(built) as client:
        await client.get("/healthz")  # builds the middleware stack
        yield built


async def test_the_generated_fastapi_routes_answer_as_the_lean_path(
    app: FastAPI,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    owner = wix_token(wix_instance.instance_id, "USER")
    legacy = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    unknown = "OauthNG.JWS." + "x" * 40 + "." + "y" * 40
    origin = {"Origin": "https://site.example"}
    cases: list[tuple[str, dict[str, str]]] = [
        ("/get-instance", {"Authorization": token}),
        ("/api/get-instance", {"Authorization": "Bearer " + token, **origin}),
        ("/get-instance?include=instance", {"Authorization": token}),
        ("/get-instance?include=everything", {"Authorization": token}),
        ("/get-instance?include=instance&include=x", {"Authorization": token}),
        ("/get-instance", {}),
        ("/get-instance", {"Authorization": ""}),
        ("/get-instance", {"Authorization": "not a token", **origin}),
        ("/get-instance", {"Authorization": unknown}),
        (f"/get-instance?instance={legacy}", {}),
        (f"/get-instance?instance={legacy}&include=instance", origin),
        ("/get-instance?instance=garbage", {}),
        (f"/get-instance?instance={legacy}", {"Authorization": token}),
        ("/api/settings", {"Authorization": token, **origin}),
        (f"/api/settings?instance={legacy}", {}),
        ("/api/settings", {"Authorization": "Bearer"}),
    ]
    edge = _edge(app)
    lean_routes = edge.lean
    async with open_backend(app) as client:
        for path, headers in cases:
            lean = _seen(await client.get(path, headers=headers))
            edge.lean = {}
            try:
                routed = _seen(await client.get(path, headers=headers))
            finally:
                edge.lean = lean_routes
            assert lean == routed, path
        saved = await client.put(
            "/api/settings",
            json={"greeting": "Grüße ✓"},
            headers={"Authorization": owner, "If-Match": '"v0"'},
        )
        assert saved.status_code == 200
        lean = _seen(await client.get("/api/settings", headers={"Authorization": token}))
        edge.lean = {}
        routed = _seen(await client.get("/api/settings", headers={"Authorization": token}))
        edge.lean = lean_routes
        assert lean == routed
        assert lean[1]["settings"]["greeting"] == "Grüße ✓"


def test_openapi_and_validation_come_from_the_one_query_model(app: FastAPI) -> None:
    from pydantic import ValidationError

    from wixapp.server.lean import InstanceQuery

    operation = app.openapi()["paths"]["/get-instance"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"include", "instance", "Authorization"}
    schema = InstanceQuery.model_json_schema()["properties"]
    assert parameters["include"]["schema"]["anyOf"] == schema["include"]["anyOf"]
    assert parameters["instance"]["description"] == schema["instance"]["description"]
    assert operation["operationId"] == "get_instance_get_instance_get"
    with pytest.raises(ValidationError) as refused:
        InstanceQuery.model_validate({"include": "everything"})
    assert refused.value.errors()[0]["msg"] == "Input should be 'instance'"  # pydantic's own


async def test_an_invalid_include_is_refused_in_pydantics_words(
    app: FastAPI, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    from pydantic import ValidationError

    from wixapp.server.lean import InstanceQuery

    try:
        InstanceQuery.model_validate({"include": "x"})
    except ValidationError as error:
        expected = error.errors()[0]["msg"]
    async with open_backend(app) as client:
        answer = await client.get(
            "/get-instance?include=x",
            headers={"Authorization": wix_token(wix_instance.instance_id)},
        )
    assert answer.status_code == 422
    assert answer.json()["problems"] == [{"field": "query.include", "problem": expected}]


async def _write_behind_the_cache(state: ServerState, instance_id: str, greeting: str) -> None:
    """Change the stored document with plain SQL, as another deployment's write would."""
    engine = create_async_engine(async_database_url(state.settings.database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(settings_table)
                .where(settings_table.c.instance_id == instance_id)
                .values(document=json.dumps({"greeting": greeting}))
            )
    finally:
        await engine.dispose()


async def test_settings_reads_come_from_the_cache_until_a_write_or_the_ttl(
    make_app: AppFactory,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    app = make_app(WIXAPP_SETTINGS_CACHE_TTL=30)
    visitor = {"Authorization": wix_token(wix_instance.instance_id)}
    owner = {"Authorization": wix_token(wix_instance.instance_id, "USER")}
    async with open_backend(app) as client:
        first = await client.put(
            "/api/settings", json={"greeting": "one"}, headers={**owner, "If-Match": '"v0"'}
        )
        assert first.status_code == 200
        assert (await client.get("/api/settings", headers=visitor)).json()["settings"][
            "greeting"
        ] == "one"  # the writer reads its write
        state: ServerState = app.state.wixapp
        await _write_behind_the_cache(state, wix_instance.instance_id, "behind")
        cached = await client.get("/api/settings", headers=visitor)
        assert cached.json()["settings"]["greeting"] == "one"  # no database read
        wix_emulator_state.advance_clock(31)  # past WIXAPP_SETTINGS_CACHE_TTL
        visitor = {"Authorization": wix_token(wix_instance.instance_id)}  # fresh token too
        expired = await client.get("/api/settings", headers=visitor)
        assert expired.json()["settings"]["greeting"] == "behind"
        second = await client.put(
            "/api/settings", json={"greeting": "two"}, headers={**owner, "If-Match": '"v1"'}
        )
        assert second.status_code == 200, second.text
        after = await client.get("/api/settings", headers=visitor)
        assert after.json()["settings"]["greeting"] == "two"
        assert after.headers["etag"] == '"v2"'


async def test_fastapis_telemetry_is_asked_once_at_start_up_and_kept_when_configured(
    make_app: AppFactory,
) -> None:
    unconfigured = make_app()
    configured = make_app()
    asked: list[str] = []

    def provider_configured() -> bool:  # as with an OpenTelemetry provider set up
        asked.append("configured")
        return True

    native = configured._native_telemetry  # type: ignore[attr-defined]
    native.enabled = provider_configured
    for app in (unconfigured, configured):
        async with open_backend(app) as client:
            assert (await client.get("/healthz")).status_code == 200
    assert not unconfigured._native_telemetry.enabled()  # type: ignore[attr-defined]
    assert unconfigured._native_telemetry.enabled.__name__ == "_never"  # type: ignore[attr-defined]
    assert native.enabled is provider_configured  # still asked on every request
    assert len(asked) >= 2
