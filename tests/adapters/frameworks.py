"""The scenario app on Starlette, Quart, Flask and Django, each behind its own test client."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from wixapp.config import Settings
from wixapp.models import Caller
from wixapp.server import InstanceDB, database_engine
from wixapp.store import InstanceStatements

from .apps import ROLLED_BACK, Notes, Reply, create_records_table, in_thread, records, reply

Config = dict[str, Any]


# -- FastAPI (the ready backend, with the app's own routes) ------------------------------


def fastapi_app(settings: Settings, notes: Notes, **options: Any) -> Any:
    from fastapi import Depends

    from wixapp.server import create_app, current_caller

    app = create_app(
        settings,
        wix_transport=options["transport"],
        clock=options["clock"],
        webhooks=options["webhooks"],
    )

    @app.get("/api/whoami")
    async def whoami(caller: Caller = Depends(current_caller)) -> dict[str, Any]:  # noqa: B008
        return dict(caller.public())

    @app.get("/api/notes")
    async def read_notes(caller: Caller = Depends(current_caller)) -> dict[str, Any]:  # noqa: B008
        return {"instanceId": caller.instance_id, "notes": notes.of(caller.instance_id)}

    @app.post("/api/notes")
    async def add_note(
        request: Request,
        caller: Caller = Depends(current_caller),  # noqa: B008
    ) -> dict[str, Any]:
        body = json.loads(await request.body())
        return {"notes": notes.add(caller.instance_id, str(body["text"]))}

    # The backend's CORS allows the methods its routes answer: this one makes DELETE one.
    @app.delete("/api/notes", status_code=204)
    async def clear_notes(caller: Caller = Depends(current_caller)) -> None:  # noqa: B008
        notes.of(caller.instance_id).clear()

    fastapi_records(app, options["webhooks"])
    return app


def fastapi_records(app: Any, webhooks: Any) -> None:
    """The records routes on ``InstanceDB``, and their purge on ``AppRemoved``."""

    @app.get("/api/records")
    async def read_records(db: InstanceDB) -> dict[str, Any]:
        rows = await db.execute(db.select(records).order_by(records.c.id))
        return {"instanceId": db.instance_id, "records": [row.text for row in rows]}

    @app.post("/api/records")
    async def add_record(request: Request, db: InstanceDB) -> Any:
        text = str(json.loads(await request.body())["text"])
        result = await db.execute(db.insert(records).values(text=text))
        if text == ROLLED_BACK:
            raise HTTPException(409, "rolled back")
        return JSONResponse({"id": result.inserted_primary_key[0]})

    @app.delete("/api/records/{record_id}", status_code=204)
    async def delete_record(record_id: int, db: InstanceDB) -> None:
        result = await db.execute(db.delete(records).where(records.c.id == record_id))
        if result.rowcount == 0:
            raise HTTPException(404, "no such record")

    @webhooks.on("AppRemoved")
    async def purge_records(event: Any) -> None:
        async with database_engine(app).begin() as connection:
            await connection.execute(InstanceStatements(event.instance_id).delete(records))


class HttpxProbe:
    def __init__(self, name: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self._client = client

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        response = await self._client.request(
            method, path, headers=dict(headers or {}), content=body
        )
        return reply(response.status_code, response.headers, response.content)


@contextlib.asynccontextmanager
async def open_fastapi(settings: Settings, notes: Notes, **options: Any) -> AsyncIterator[Any]:
    from wixapp.testing import open_backend

    await in_thread(create_records_table, settings.database_url)

    async with open_backend(fastapi_app(settings, notes, **options)) as client:
        yield HttpxProbe("fastapi", client)


# -- Starlette (the plain ASGI middleware) ----------------------------------------------


def starlette_app(settings: Settings, notes: Notes, **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from wixapp.adapters.asgi import WixMiddleware, caller_of

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(caller_of(request.scope).public())

    async def read_notes(request: Request) -> JSONResponse:
        caller = request.state.wix_caller
        return JSONResponse(
            {"instanceId": caller.instance_id, "notes": notes.of(caller.instance_id)}
        )

    async def add_note(request: Request) -> JSONResponse:
        caller = request.state.wix_caller
        text = str((await request.json())["text"])
        return JSONResponse({"notes": notes.add(caller.instance_id, text)})

    return Starlette(
        routes=[
            Route("/api/whoami", whoami),
            Route("/api/notes", read_notes, methods=["GET"]),
            Route("/api/notes", add_note, methods=["POST"]),
        ],
        middleware=[Middleware(WixMiddleware, settings=settings, guard=["/api/"], **options)],
    )


class StarletteProbe:
    name = "starlette"

    def __init__(self, client: Any) -> None:
        self._client = client

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        response: httpx.Response = await in_thread(
            self._client.request, method, path, headers=dict(headers or {}), content=body
        )
        return reply(response.status_code, response.headers, response.content)


@contextlib.asynccontextmanager
async def open_starlette(settings: Settings, notes: Notes, **options: Any) -> AsyncIterator[Any]:
    from starlette.testclient import TestClient

    client = TestClient(starlette_app(settings, notes, **options))
    await in_thread(client.__enter__)
    try:
        yield StarletteProbe(client)
    finally:
        await in_thread(client.__exit__, None, None, None)


# -- Quart (the plain ASGI middleware, a second framework) ------------------------------


def quart_app(settings: Settings, notes: Notes, **options: Any) -> Any:
    from quart import Quart, request

    from wixapp.adapters.asgi import WixMiddleware, caller_of

    app = Quart("wixapp-quart-test")

    @app.get("/api/whoami")
    async def whoami() -> dict[str, Any]:
        return dict(caller_of(request.scope).public())

    @app.get("/api/notes")
    async def read_notes() -> dict[str, Any]:
        caller = caller_of(request.scope)
        return {"instanceId": caller.instance_id, "notes": notes.of(caller.instance_id)}

    @app.post("/api/notes")
    async def add_note() -> dict[str, Any]:
        caller = caller_of(request.scope)
        body = await request.get_json(force=True)
        return {"notes": notes.add(caller.instance_id, str(body["text"]))}

    app.asgi_app = WixMiddleware(  # type: ignore[method-assign]
        app.asgi_app, settings=settings, guard=["/api/"], **options
    )
    return app


class QuartProbe:
    name = "quart"

    def __init__(self, client: Any) -> None:
        self._client = client

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        path, _, query = path.partition("?")
        response = await self._client.open(
            path, method=method, headers=dict(headers or {}), data=body, query_string=_query(query)
        )
        return reply(response.status_code, response.headers, await response.get_data())


def _query(query: str) -> dict[str, str] | None:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query)) or None


@contextlib.asynccontextmanager
async def open_quart(settings: Settings, notes: Notes, **options: Any) -> AsyncIterator[Any]:
    app = quart_app(settings, notes, **options)
    async with app.test_app() as test_app:
        yield QuartProbe(test_app.test_client())


# -- Flask ----------------------------------------------------------------------------------


def flask_app(config: Config, notes: Notes, **options: Any) -> Any:
    from flask import Flask, g, request

    from wixapp.adapters.flask import WixFlask, current_caller

    app = Flask("wixapp-flask-test")
    app.config.update(config)
    wix = WixFlask(app, guard=["/api/"], **options)

    @app.get("/api/whoami")
    def whoami() -> dict[str, Any]:
        return dict(current_caller().public())

    @app.get("/api/notes")
    def read_notes() -> dict[str, Any]:
        caller = current_caller()
        return {"instanceId": caller.instance_id, "notes": notes.of(caller.instance_id)}

    @app.post("/api/notes")
    def add_note() -> dict[str, Any]:
        caller = current_caller()
        body = request.get_json(force=True)
        return {"notes": notes.add(caller.instance_id, str(body["text"]))}

    @app.get("/decorated/whoami")
    @wix.caller_required
    def decorated() -> dict[str, Any]:
        return dict(g.wix_caller.public())

    flask_records(app, wix)
    app.extensions["wixapp-test-extension"] = wix
    return app


def flask_records(app: Any, wix: Any) -> None:
    """The records routes on ``wix.instance_db()``, and their purge on ``AppRemoved``."""
    from flask import request

    @app.get("/api/records")
    def read_records() -> dict[str, Any]:
        db = wix.instance_db()
        rows = db.execute(db.select(records).order_by(records.c.id))
        return {"instanceId": db.instance_id, "records": [row.text for row in rows]}

    @app.post("/api/records")
    def add_record() -> Any:
        db = wix.instance_db()
        text = str(request.get_json(force=True)["text"])
        result = db.execute(db.insert(records).values(text=text))
        if text == ROLLED_BACK:
            return {"error": "rolled_back"}, 409
        return {"id": result.inserted_primary_key[0]}

    @app.delete("/api/records/<int:record_id>")
    def delete_record(record_id: int) -> Any:
        db = wix.instance_db()
        result = db.execute(db.delete(records).where(records.c.id == record_id))
        return ("", 204) if result.rowcount else ({"error": "not_found"}, 404)

    @wix.webhooks.on("AppRemoved")
    def purge_records(event: Any) -> None:
        with wix.sync_for(app).instance_transaction(event.instance_id) as db:
            db.execute(db.delete(records))


class FlaskProbe:
    name = "flask"

    def __init__(self, client: Any) -> None:
        self._client = client

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        response = await in_thread(
            self._client.open, path, method=method, headers=dict(headers or {}), data=body
        )
        return reply(response.status_code, response.headers, response.get_data())


@contextlib.asynccontextmanager
async def open_flask(config: Config, notes: Notes, **options: Any) -> AsyncIterator[Any]:
    await in_thread(create_records_table, config["WIXAPP_DATABASE_URL"])
    app = await in_thread(flask_app, config, notes, **options)
    try:
        yield FlaskProbe(app.test_client())
    finally:
        await in_thread(app.extensions["wixapp-test-extension"].close, app)


# -- Django -------------------------------------------------------------------------------


class DjangoProbe:
    def __init__(self, client: Any, *, is_async: bool) -> None:
        self._client = client
        self._async = is_async
        self.name = "django-async" if is_async else "django"

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        if self._async:
            response = await self._client.generic(method, path, body, headers=dict(headers or {}))
        else:
            response = await in_thread(
                self._client.generic, method, path, body, headers=dict(headers or {})
            )
        return reply(response.status_code, response.items(), response.content)


@contextlib.asynccontextmanager
async def open_django(
    config: Config, notes: Notes, *, is_async: bool, **options: Any
) -> AsyncIterator[Any]:
    from django.test import AsyncClient, Client, override_settings

    from . import django_site

    await in_thread(django_site.configure)  # its first run creates the tables: sync only
    django_site.NOTES = notes
    django_site.purge_records_on_removal(options["webhooks"])
    overrides = override_settings(
        **config,
        WIXAPP_OPTIONS={k: v for k, v in options.items() if k != "webhooks"},
        WIXAPP_WEBHOOK_HANDLERS=options.get("webhooks"),
    )
    overrides.enable()
    try:
        yield DjangoProbe(AsyncClient() if is_async else Client(), is_async=is_async)
    finally:
        await in_thread(overrides.disable)
