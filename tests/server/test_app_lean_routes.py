"""An app's own lean routes (``create_app(lean_routes=...)``): a GET of per-instance data, as
the scaffold's notes list, answered by the edge as ``/get-instance`` is, the same as its
generated FastAPI declaration answers, documented in OpenAPI from its ``Declaration``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from wixapp.emulator.records import Installation
from wixapp.errors import ConfigurationError
from wixapp.models import Caller
from wixapp.server import (
    AnswerCodec,
    Declaration,
    JSONAnswer,
    LeanRequest,
    database_engine,
    lean_route,
)
from wixapp.store import InstanceStatements
from wixapp.testing import InstallFactory, TokenFactory, open_backend

from .conftest import AppFactory
from .test_lean_path import _edge, _seen

metadata = sa.MetaData()
notes = sa.Table(
    "app_lean_notes_test",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("instance_id", sa.String(128), nullable=False, index=True),
    sa.Column("text", sa.String(200), nullable=False),
    sa.Column("pinned", sa.Boolean, nullable=False, default=False),
)


class NoteList(BaseModel):
    instanceId: str
    notes: list[str]


class NotesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    pinned: bool | None = None


async def list_notes(caller: Caller, request: LeanRequest) -> NoteList:
    scoped = InstanceStatements(caller.instance_id)
    query = scoped.select(notes).order_by(notes.c.id)
    if request.query.pinned is not None:
        query = query.where(notes.c.pinned == request.query.pinned)
    async with request.state.store.begin() as connection:
        rows = (await connection.execute(query)).all()
    return NoteList(instanceId=caller.instance_id, notes=[row.text for row in rows])


NOTES = lean_route(
    "/api/notes",
    list_notes,
    Declaration.identified("list_notes", "The site's notes.", NoteList, NotesQuery),
)


async def whoami(caller: Caller, request: LeanRequest) -> JSONAnswer:
    """Who is calling, not to be cached."""
    body = f'{{"subjectType":"{caller.subject_type}"}}'.encode()
    return JSONAnswer(body, (("cache-control", "no-store"),))


@asynccontextmanager
async def notes_table(app: FastAPI) -> AsyncIterator[None]:
    async with database_engine(app).begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield


async def _add_notes(app: FastAPI, instance_id: str, *texts: str, pinned: bool = False) -> None:
    scoped = InstanceStatements(instance_id)
    async with database_engine(app).begin() as connection:
        for text in texts:
            await connection.execute(scoped.insert(notes).values(text=text, pinned=pinned))


@pytest.fixture
async def notes_app(make_app: AppFactory) -> AsyncIterator[FastAPI]:
    app = make_app(lifespan=notes_table, lean_routes=[NOTES])
    async with open_backend(app) as client:
        await client.get("/healthz")  # builds the middleware stack
        yield app


async def test_each_caller_reads_its_own_instances_data_on_the_lean_path(
    notes_app: FastAPI, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    bakery, bikes = wix_install(display_name="Bakery"), wix_install(display_name="Bikes")
    await _add_notes(notes_app, bakery.instance_id, "rye", "spelt")
    await _add_notes(notes_app, bakery.instance_id, "open at 7", pinned=True)
    await _add_notes(notes_app, bikes.instance_id, "tyres")
    baker = {"Authorization": wix_token(bakery.instance_id)}
    cases = [
        ("/api/notes", baker),
        ("/api/notes?pinned=true", baker),
        ("/api/notes", {"Authorization": wix_token(bikes.instance_id)}),
        ("/api/notes?pinned=maybe", baker),  # 422 by the query model
        ("/api/notes", {}),  # 401
    ]
    edge = _edge(notes_app)
    assert edge.lean["/api/notes"] is NOTES
    answers = []
    async with open_backend(notes_app) as client:
        for path, headers in cases:
            lean = _seen(await client.get(path, headers=headers))
            edge.lean = {}  # the generated FastAPI declaration answers instead
            try:
                assert _seen(await client.get(path, headers=headers)) == lean, path
            finally:
                edge.lean = {"/api/notes": NOTES}
            answers.append(lean[:2])
    assert answers[0] == (
        200,
        {"instanceId": bakery.instance_id, "notes": ["rye", "spelt", "open at 7"]},
    )
    assert answers[1] == (200, {"instanceId": bakery.instance_id, "notes": ["open at 7"]})
    assert answers[2] == (200, {"instanceId": bikes.instance_id, "notes": ["tyres"]})
    assert answers[3][0] == 422
    assert answers[3][1]["error"] == "invalid_request"
    assert answers[4][0] == 401


def test_openapi_describes_an_apps_lean_route_from_its_declaration(make_app: AppFactory) -> None:
    paths = make_app(lean_routes=[NOTES, lean_route("/api/whoami", whoami)]).openapi()["paths"]
    operation = paths["/api/notes"]["get"]
    assert [(p["in"], p["name"]) for p in operation["parameters"]] == [
        ("query", "pinned"),
        ("header", "Authorization"),
    ]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/NoteList"}
    assert {"401", "422", "429", "502", "503"} <= set(operation["responses"])
    assert operation["description"] == "The site's notes."
    default = paths["/api/whoami"]["get"]  # no declaration: the handler's name and docstring
    assert default["summary"] == "Whoami"
    assert default["description"] == "Who is calling, not to be cached."


async def test_a_guarded_lean_route_takes_the_guards_caller_and_sends_its_headers(
    make_app: AppFactory, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    app = make_app(lean_routes=[lean_route("/api/me", whoami)], WIXAPP_GUARD_PATHS="/api/me")
    owner = {"Authorization": wix_token(wix_instance.instance_id, "USER")}
    async with open_backend(app) as client:
        answer = await client.get("/api/me", headers=owner)
        refused = await client.get("/api/me", headers={"Authorization": "junk"})
    assert answer.json() == {"subjectType": "USER"}
    assert answer.headers["cache-control"] == "no-store"
    assert refused.status_code == 401


def test_a_lean_route_may_not_take_a_built_in_path(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match="/get-instance"):
        make_app(lean_routes=[lean_route("/get-instance", whoami)])


async def localized(caller: Caller, request: LeanRequest) -> JSONAnswer:
    """An answer that varies by language as well."""
    return JSONAnswer(b'{"hello":"world"}', (("vary", "Accept-Language"),))


async def test_a_lean_answers_own_vary_is_joined_by_origin_as_the_cors_rules_write_it(
    make_app: AppFactory, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    app = make_app(lean_routes=[lean_route("/api/hello", localized)])
    token = {"Authorization": wix_token(wix_instance.instance_id)}
    async with open_backend(app) as client:
        await client.get("/healthz")  # builds the middleware stack
        edge = _edge(app)
        lean_routes = edge.lean
        for headers in (token, {**token, "Origin": "https://site.example"}):
            lean = await client.get("/api/hello", headers=headers)
            edge.lean = {}  # the generated FastAPI declaration answers instead
            try:
                routed = await client.get("/api/hello", headers=headers)
            finally:
                edge.lean = lean_routes
            assert lean.headers.get_list("vary") == ["Accept-Language, Origin"]
            assert routed.headers.get_list("vary") == ["Accept-Language, Origin"]
            assert _seen(lean) == _seen(routed)


def test_answer_codec_keeps_a_cached_answers_body_and_refuses_extra_headers() -> None:
    codec = AnswerCodec()
    answer = JSONAnswer(b'{"instanceId":"i-1","notes":["rye"]}')
    stored = codec.encode("i-1", answer)
    assert stored == answer.body
    assert codec.decode("i-1", stored) == answer
    assert codec.tag(answer) == ""
    with pytest.raises(ValueError, match="without headers"):
        codec.encode("i-1", JSONAnswer(b"{}", (("cache-control", "no-store"),)))
