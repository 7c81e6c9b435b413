"""An app's own routes, tables, start-up and migrations on the backend ``create_app`` builds:
``InstanceDB`` binds each request to the caller's instance, the app's lifespan runs inside
wixapp's, CORS allows the methods the app's routes use, errors have wixapp's JSON shape."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from wixapp.emulator.records import RegisteredApp
from wixapp.errors import PermissionDeniedError
from wixapp.models import Caller
from wixapp.server import InstanceDB, create_app, current_caller, database_engine
from wixapp.testing import InstallFactory, TokenFactory, open_backend, settings_for_emulator

from .conftest import AppFactory

metadata = sa.MetaData()
items = sa.Table(
    "app_items_test",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("instance_id", sa.String(128), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
)


class ItemIn(BaseModel):
    name: str


@asynccontextmanager
async def create_items_table(app: FastAPI) -> AsyncIterator[None]:
    """The app's own start-up: wixapp's store is open, so its engine is usable here."""
    async with database_engine(app).begin() as connection:
        await connection.run_sync(metadata.create_all)
    app.state.started = "yes"
    yield
    async with database_engine(app).connect() as connection:  # still open at shutdown
        await connection.execute(sa.select(1))


def add_item_routes(app: FastAPI) -> FastAPI:
    @app.get("/api/items")
    async def list_items(db: InstanceDB, request: Request) -> dict[str, Any]:
        rows = await db.execute(db.select(items).order_by(items.c.id))
        names = [row.name for row in rows]
        return {"instanceId": db.instance_id, "items": names, "started": request.app.state.started}

    @app.post("/api/items", status_code=201)
    async def add_item(body: ItemIn, db: InstanceDB, request: Request) -> dict[str, Any]:
        result = await db.execute(db.insert(items).values(name=body.name).returning(items.c.id))
        db.after_commit(lambda: _note_committed(request.app, db.instance_id))
        return {"id": result.scalar_one()}

    @app.patch("/api/items/{item_id}")
    async def rename_item(item_id: int, body: ItemIn, db: InstanceDB) -> JSONResponse:
        statement = db.update(items).where(items.c.id == item_id).values(name=body.name)
        if (await db.execute(statement)).rowcount == 0:
            raise HTTPException(404, f"No item {item_id} here.")
        return JSONResponse({"id": item_id, "name": body.name}, headers={"ETag": f'"{item_id}"'})

    @app.delete("/api/items/{item_id}", status_code=204)
    async def delete_item(item_id: int, db: InstanceDB) -> Response:
        if (await db.execute(db.delete(items).where(items.c.id == item_id))).rowcount == 0:
            raise HTTPException(404, f"No item {item_id} here.")
        return Response(status_code=204)

    @app.post("/api/items/fail")
    async def add_then_fail(db: InstanceDB, request: Request) -> None:
        await db.execute(db.insert(items).values(name="never kept"))
        db.after_commit(lambda: _note_committed(request.app, db.instance_id))
        raise PermissionDeniedError("Not for you.", code="user_required")

    return app


async def _note_committed(app: FastAPI, instance_id: str) -> None:
    """An after-commit action: what another connection sees of the instance's items."""
    query = sa.select(items.c.name).where(items.c.instance_id == instance_id)
    async with database_engine(app).connect() as connection:
        names = (await connection.execute(query.order_by(items.c.id))).scalars().all()
    app.state.seen_after_commit = [*getattr(app.state, "seen_after_commit", []), names]


@pytest.fixture
async def app_backend(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = add_item_routes(make_app(lifespan=create_items_table))
    async with open_backend(app) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def test_an_apps_routes_read_and_write_only_the_callers_rows(
    app_backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    bakery, bikes = wix_install(display_name="Bakery"), wix_install(display_name="Bike Shop")
    baker, biker = auth(wix_token(bakery.instance_id)), auth(wix_token(bikes.instance_id))
    name = f"bread-{uuid.uuid4()}"

    created = await app_backend.post("/api/items", json={"name": name}, headers=baker)
    item_id = created.json()["id"]

    assert (await app_backend.get("/api/items", headers=biker)).json()["items"] == []
    for method in ("PATCH", "DELETE"):
        other = await app_backend.request(
            method, f"/api/items/{item_id}", json={"name": "stolen"}, headers=biker
        )
        assert other.status_code == 404, method
        assert other.json() == {"error": "not_found", "detail": f"No item {item_id} here."}
    mine = await app_backend.get("/api/items", headers=baker)
    assert mine.json() == {"instanceId": bakery.instance_id, "items": [name], "started": "yes"}

    renamed = await app_backend.patch(f"/api/items/{item_id}", json={"name": "rye"}, headers=baker)
    assert renamed.json() == {"id": item_id, "name": "rye"}
    assert (await app_backend.delete(f"/api/items/{item_id}", headers=baker)).status_code == 204
    assert (await app_backend.get("/api/items", headers=baker)).json()["items"] == []


async def test_a_route_that_fails_keeps_none_of_its_writes_and_answers_wixapps_json(
    app_backend: httpx.AsyncClient, wix_instance: Any, wix_token: TokenFactory
) -> None:
    caller = auth(wix_token(wix_instance.instance_id))
    failed = await app_backend.post("/api/items/fail", headers=caller)
    assert failed.status_code == 403
    assert failed.json() == {"error": "user_required", "detail": "Not for you."}
    assert (await app_backend.get("/api/items", headers=caller)).json()["items"] == []


async def test_after_commit_runs_once_the_write_is_visible_and_never_for_a_failed_route(
    make_app: AppFactory, wix_instance: Any, wix_token: TokenFactory
) -> None:
    app = add_item_routes(make_app(lifespan=create_items_table))
    caller = auth(wix_token(wix_instance.instance_id))
    async with open_backend(app) as client:
        assert (await client.post("/api/items", json={"name": "rye"}, headers=caller)).is_success
        assert (await client.post("/api/items/fail", headers=caller)).status_code == 403
        assert (await client.post("/api/items", json={"name": "spelt"}, headers=caller)).is_success
    # Another connection already saw each committed row; the failed route's action never ran.
    assert app.state.seen_after_commit == [["rye"], ["rye", "spelt"]]


async def test_the_apps_routes_get_wixapps_json_errors(
    app_backend: httpx.AsyncClient, wix_instance: Any, wix_token: TokenFactory
) -> None:
    caller = auth(wix_token(wix_instance.instance_id))
    invalid = await app_backend.post("/api/items", json={"nom": "x"}, headers=caller)
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "invalid_request"
    assert invalid.json()["problems"][0]["field"] == "body.name"
    no_token = await app_backend.get("/api/items")
    assert no_token.status_code == 401
    assert no_token.json()["error"] == "missing_token"
    wrong_method = await app_backend.put("/api/items/1", headers=caller)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


WIDGET_ORIGIN = "https://someone.wixsite.com"


async def whoami(caller: Annotated[Caller, Depends(current_caller)]) -> dict[str, str]:
    return {"instanceId": caller.instance_id}


async def public() -> dict[str, str]:
    return {"hello": "world"}


def test_openapi_documents_the_authorization_header_on_each_route_that_identifies(
    make_app: AppFactory,
) -> None:
    app = add_item_routes(make_app())
    app.add_api_route("/api/whoami", whoami)
    app.add_api_route("/api/public", public)
    paths = app.openapi()["paths"]

    def headers(path: str, method: str) -> list[str]:
        parameters = paths[path][method].get("parameters", [])
        return [p["name"] for p in parameters if p["in"] == "header"]

    assert headers("/api/whoami", "get") == ["Authorization"]  # Depends(current_caller)
    assert headers("/api/items", "get") == ["Authorization"]  # through InstanceDB
    assert headers("/api/items/{item_id}", "patch") == ["Authorization"]
    assert sorted(headers("/api/settings", "put")) == ["Authorization", "If-Match"]
    assert headers("/get-instance", "get") == ["Authorization"]  # the lean routes: once
    assert headers("/api/public", "get") == []
    assert app.openapi()["paths"]["/api/whoami"]["get"]["parameters"][0]["description"]


def preflight(method: str) -> dict[str, str]:
    return {
        "Origin": WIDGET_ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,if-match",
    }


async def test_cors_allows_every_method_the_apps_routes_use(
    app_backend: httpx.AsyncClient, wix_instance: Any, wix_token: TokenFactory
) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        answer = await app_backend.options("/api/items/1", headers=preflight(method))
        assert answer.status_code == 200, method
        assert method in answer.headers["Access-Control-Allow-Methods"]
    # No route answers TRACE: its preflight is refused.
    assert (
        await app_backend.options("/api/items/1", headers=preflight("TRACE"))
    ).status_code == 400

    # The answer lets the widget read the ETag it needs for If-Match.
    caller = {**auth(wix_token(wix_instance.instance_id)), "Origin": WIDGET_ORIGIN}
    item_id = (await app_backend.post("/api/items", json={"name": "a"}, headers=caller)).json()[
        "id"
    ]
    patched = await app_backend.patch(f"/api/items/{item_id}", json={"name": "b"}, headers=caller)
    assert patched.headers["ETag"] == f'"{item_id}"'
    assert "ETag" in patched.headers["Access-Control-Expose-Headers"]


async def test_cors_methods_setting_narrows_what_browsers_may_send(make_app: AppFactory) -> None:
    app = add_item_routes(make_app(WIXAPP_CORS_METHODS="get, patch", lifespan=create_items_table))
    async with open_backend(app) as client:
        patch = await client.options("/api/items/1", headers=preflight("PATCH"))
        delete = await client.options("/api/items/1", headers=preflight("DELETE"))
    assert patch.status_code == 200
    assert patch.headers["Access-Control-Allow-Methods"] == "GET, PATCH"
    assert delete.status_code == 400


async def test_start_up_runs_the_apps_migrations_after_wixapps(
    wix_registered_app: RegisteredApp, wix_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text(
        "import sqlalchemy as sa\nfrom wixapp.store import run_app_migrations\n"
        "run_app_migrations(sa.MetaData())\n"
    )
    (migrations / "versions" / "b1_tags.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\n"
        "revision = 'b1'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n"
        "    op.create_table('tags', sa.Column('instance_id', sa.String(128),"
        " sa.ForeignKey('wixapp_instances.instance_id'), primary_key=True))\n"
        "def downgrade():\n    op.drop_table('tags')\n"
    )
    settings = settings_for_emulator(
        wix_registered_app, database_url=f"sqlite:///{tmp_path / 'app.db'}"
    )
    app = create_app(settings, wix_transport=wix_transport, migrations=str(migrations))
    async with open_backend(app), database_engine(app).connect() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert {"tags", "wixapp_instances", "alembic_version", "wixapp_alembic_version"} <= set(tables)
