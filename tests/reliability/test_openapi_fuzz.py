"""Schemathesis against the backend's own OpenAPI schema (``/openapi.json``).

Cases are generated from the schema, valid ones and invalid ones, and sent in-process (the
same event loop as the in-process emulator). Half of them carry a real token (a site
owner's, cached) in place of the generated Authorization header, so the settings routes
are reached past identification. Every answer must conform to the schema (status codes,
content types, headers, bodies) and none may be a 5xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wixapp.config import Settings
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.server import create_app
from wixapp.testing import TokenFactory, open_backend
from wixapp.webhooks import generate_rsa_keypair

from .conftest import Build, Figures

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
BASE_URL = "http://backend.test"


@dataclass
class Api:
    client: httpx.AsyncClient
    schema: Any
    owner: str
    emulator: EmulatorState


@pytest.fixture
async def api(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> AsyncIterator[Api]:
    app = build(WIX_APP_PUBLIC_KEY=generate_rsa_keypair()[1])
    owner = wix_token(wix_instance.instance_id, "USER")
    async with open_backend(app, base_url=BASE_URL) as client:
        assert (await client.get("/openapi.json")).json() == SCHEMA.raw_schema
        assert (await client.get("/get-instance", headers={"Authorization": owner})).is_success
        yield Api(client, SCHEMA, owner, wix_emulator_state)


def test_the_schema_documents_the_real_request_shapes(build: Build) -> None:
    document = build().openapi()
    paths = document["paths"]
    put = paths["/api/settings"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"greeting", "accentColor", "showInstanceId", "theme"}
    assert body["additionalProperties"] is False
    headers = {p["name"].lower() for p in put["parameters"] if p["in"] == "header"}
    assert headers == {"authorization", "if-match"}
    assert {"200", "401", "403", "412", "413", "422", "428", "429", "503"} <= set(put["responses"])
    for path in ("/get-instance", "/api/get-instance", "/api/settings"):
        parameters = paths[path]["get"]["parameters"]
        assert any(p["name"] == "Authorization" and p["in"] == "header" for p in parameters)
    webhook = paths["/webhooks"]["post"]
    assert "text/plain" in webhook["requestBody"]["content"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    for path, operations in paths.items():
        if path == "/readyz":  # its 503 is the readiness report itself
            continue
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):  # every error is our JSON shape
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (status, schema)


def operations(schema: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    return st.one_of(
        [
            operation.ok().as_strategy(generation_mode=mode)
            for operation in schema.get_all_operations()
        ]
    )


async def send(api: Api, case: Any, *, real_token: bool, if_match: str | None) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
    if real_token:
        headers["Authorization"] = api.owner
    if if_match is not None:
        headers["If-Match"] = if_match
    content: Any = kwargs.get("data")
    if "json" in kwargs:
        content = httpx.Request("POST", BASE_URL, json=kwargs["json"]).content
        headers.setdefault("Content-Type", "application/json")
    return await api.client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        content=content,
    )


FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# The schema does not depend on the settings: generate from it at import.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(Settings(WIX_APP_ID="schema", WIX_APP_SECRET="schema")).openapi()
)
STATUSES: dict[str, dict[int, int]] = {}


async def fuzz_one(
    api: Api,
    figures: Figures,
    mode: GenerationMode,
    case: Any,
    real_token: bool,
    if_match: str | None,
) -> None:
    figures.fuzzed(f"schemathesis_{mode.value}")
    before = api.emulator.calls()["token-info"]
    try:
        response = await send(api, case, real_token=real_token, if_match=if_match)
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # a header httpx itself refuses to send (the raw-ASGI properties cover it)
    statuses = STATUSES.setdefault(mode.value, {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    figures.fuzzed(f"schemathesis_{mode.value}", 0, statuses=dict(sorted(statuses.items())))
    assert response.status_code < 500, (case.operation.label, response.text)
    case.validate_response(response, checks=CHECKS)
    if not real_token:  # a generated token is junk: refused without asking Wix, or 401
        assert api.emulator.calls()["token-info"] - before <= (response.status_code == 401)


@FUZZ
@given(
    case=operations(SCHEMA, GenerationMode.POSITIVE),
    real_token=st.booleans(),
    if_match=st.sampled_from([None, "*", '"v0"']),
)
async def test_valid_requests_from_the_schema_get_documented_answers(
    api: Api, figures: Figures, case: Any, real_token: bool, if_match: str | None
) -> None:
    await fuzz_one(api, figures, GenerationMode.POSITIVE, case, real_token, if_match)


@FUZZ
@given(
    case=operations(SCHEMA, GenerationMode.NEGATIVE),
    real_token=st.booleans(),
    if_match=st.sampled_from([None, "*"]),
)
async def test_invalid_requests_from_the_schema_are_refused_as_documented(
    api: Api, figures: Figures, case: Any, real_token: bool, if_match: str | None
) -> None:
    await fuzz_one(api, figures, GenerationMode.NEGATIVE, case, real_token, if_match)
