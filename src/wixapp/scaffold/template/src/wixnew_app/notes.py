"""The notes API: each Wix site keeps its own notes; its owner edits them in the panel.

``GET /api/notes`` is asked on every page view of the widget, so it is built for speed:

- it runs on wixapp's lean path (``LIST_NOTES``, passed to ``create_app(lean_routes=...)``),
  answered as wixapp's own ``/get-instance`` is, without FastAPI's routing and dependencies,
  and documented in OpenAPI from its ``Declaration``;
- each site's list is cached in every process (and in Redis when ``WIXAPP_REDIS_URL`` is
  set) by ``wix.instance_cache``, set up in ``notes_lifespan``, as its encoded answer: a
  page view reads memory, not the database, and sends bytes built once per change.

The writes are FastAPI routes: ``InstanceDB`` gives each request a connection bound to the
caller's app instance (``db.select``, ``db.insert``, ``db.update`` and ``db.delete`` carry
the instance filter), and the transaction commits when the route returns. Each write then
invalidates the site's cached list (``db.after_commit``): the writer reads its write, and
with Redis every other process drops its copy at once. When a site removes the app, its
notes are deleted (``purge_notes_on_removal``; see the README on retention).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request
from pydantic import BaseModel, Field
from starlette.responses import Response
from wixapp import InstanceCache
from wixapp.errors import PermissionDeniedError
from wixapp.models import Caller
from wixapp.server import (
    AnswerCodec,
    Declaration,
    InstanceDB,
    JSONAnswer,
    LeanRequest,
    ServerState,
    database_engine,
    lean_route,
)
from wixapp.store import InstanceStatements
from wixapp.webhooks import WebhookEvent, WebhookRouter

from wixnew_app.tables import notes

router = APIRouter(prefix="/api/notes", tags=["notes"])

# The id column's range (32-bit on PostgreSQL): a larger number is a 422, never a 500.
NoteId = Annotated[int, Path(ge=1, le=2**31 - 1)]

# How long a cached list may be served before it is read again. Writes through this API
# invalidate it at once; the TTL bounds only rows written behind the app's back (and, without
# Redis, how long other workers keep an old list).
NOTES_CACHE_TTL = 300.0


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    pinned: bool = False


class NotePatch(BaseModel):
    text: str | None = Field(default=None, min_length=1, max_length=500)
    pinned: bool | None = None


class Note(BaseModel):
    id: int
    text: str
    pinned: bool


class NoteList(BaseModel):
    instanceId: str
    notes: list[Note]


async def list_notes(caller: Caller, request: LeanRequest) -> JSONAnswer:
    """Every caller of the site (visitors too) reads its notes, pinned first."""
    cache: InstanceCache[JSONAnswer] = request.app.state.notes_cache
    return await cache.get(caller.instance_id)


LIST_NOTES = lean_route(
    "/api/notes",
    list_notes,
    Declaration.identified("list_notes", "The site's notes, pinned first.", NoteList),
)


@asynccontextmanager
async def notes_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """This app's lifespan (run once wixapp's store is open): the cache of each site's list,
    kept as its encoded answer, so a page view sends bytes built once per change."""
    state: ServerState = app.state.wixapp

    async def load(instance_id: str) -> JSONAnswer:
        query = InstanceStatements(instance_id).select(notes)
        query = query.order_by(notes.c.pinned.desc(), notes.c.id)
        async with state.store.begin() as connection:  # a busy database: wixapp's 503
            rows = (await connection.execute(query)).mappings().all()
        listed = NoteList(instanceId=instance_id, notes=[_note(row) for row in rows])
        return JSONAnswer(listed.model_dump_json().encode())

    app.state.notes_cache = state.wix.instance_cache(
        "notes", load, AnswerCodec(), ttl=NOTES_CACHE_TTL
    )
    yield


@router.post("", status_code=201)
async def create_note(body: NoteIn, db: InstanceDB, request: Request) -> Note:
    _require_owner(db)
    _list_changes(db, request)
    statement = db.insert(notes).values(text=body.text, pinned=body.pinned)
    result = await db.execute(statement.returning(*_columns()))
    return _note(result.mappings().one())


@router.patch("/{note_id}")
async def update_note(note_id: NoteId, body: NotePatch, db: InstanceDB, request: Request) -> Note:
    _require_owner(db)
    changes = body.model_dump(exclude_none=True)
    if changes:
        _list_changes(db, request)
        statement = db.update(notes).where(notes.c.id == note_id).values(**changes)
        row = (await db.execute(statement.returning(*_columns()))).mappings().first()
    else:
        row = (await db.execute(db.select(notes).where(notes.c.id == note_id))).mappings().first()
    if row is None:
        raise _not_found(note_id)
    return _note(row)


@router.delete("/{note_id}", status_code=204)
async def delete_note(note_id: NoteId, db: InstanceDB, request: Request) -> Response:
    _require_owner(db)
    _list_changes(db, request)
    result = await db.execute(db.delete(notes).where(notes.c.id == note_id))
    if result.rowcount == 0:
        raise _not_found(note_id)
    return Response(status_code=204)


def purge_notes_on_removal(app: FastAPI) -> None:
    """Delete a site's notes when it removes the app (``AppRemoved``, after wixapp has
    applied it), so a reinstall starts empty."""

    webhooks: WebhookRouter = app.state.webhooks

    @webhooks.on("AppRemoved")
    async def purge_notes(event: WebhookEvent) -> None:
        async with database_engine(app).begin() as connection:
            await connection.execute(InstanceStatements(event.instance_id).delete(notes))
        cache: InstanceCache[JSONAnswer] = app.state.notes_cache
        await cache.invalidate(event.instance_id)


def _list_changes(db: InstanceDB, request: Request) -> None:
    """The site's cached list is dropped once this request's write has committed (before
    the answer goes out), so no reader can load the old rows back in between."""
    cache: InstanceCache[JSONAnswer] = request.app.state.notes_cache
    db.after_commit(lambda: cache.invalidate(db.instance_id))


def _require_owner(db: InstanceDB) -> None:
    if not db.caller.is_user:
        raise PermissionDeniedError(
            "Only a Wix user (the site owner in the editor) may change the notes.",
            code="user_required",
        )


def _not_found(note_id: int) -> HTTPException:
    # wixapp renders it as its JSON error: {"error": "not_found", "detail": ...}
    return HTTPException(404, f"This site has no note {note_id}.")


def _columns() -> tuple[Any, ...]:
    return (notes.c.id, notes.c.text, notes.c.pinned)


def _note(row: Any) -> Note:
    return Note(id=row["id"], text=row["text"], pinned=bool(row["pinned"]))
