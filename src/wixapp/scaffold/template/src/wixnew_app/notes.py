"""The notes API: each Wix site keeps its own notes; its owner edits them in the panel.

``GET /api/notes`` is asked on every page view of the widget, so it runs on wixapp's lean
path (``LIST_NOTES``, passed to ``create_app(lean_routes=...)``): answered as wixapp's own
``/get-instance`` is, without FastAPI's routing and dependencies, and documented in OpenAPI
from its ``Declaration``. Its statement is bound to the caller's instance by
``InstanceStatements``.

The writes are FastAPI routes: ``InstanceDB`` gives each request a connection bound to the
caller's app instance: the statements it builds (``db.select``, ``db.insert``,
``db.update``, ``db.delete``) carry the instance filter, and the transaction commits when the
route returns. When a site removes the app, its notes are deleted
(``purge_notes_on_removal``; see the README on retention).
"""

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path
from pydantic import BaseModel, Field
from starlette.responses import Response
from wixapp.errors import PermissionDeniedError
from wixapp.models import Caller
from wixapp.server import Declaration, InstanceDB, LeanRequest, database_engine, lean_route
from wixapp.store import InstanceStatements
from wixapp.webhooks import WebhookEvent, WebhookRouter

from wixnew_app.tables import notes

router = APIRouter(prefix="/api/notes", tags=["notes"])

# The id column's range (32-bit on PostgreSQL): a larger number is a 422, never a 500.
NoteId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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


async def list_notes(caller: Caller, request: LeanRequest) -> NoteList:
    """Every caller of the site (visitors too) reads its notes, pinned first."""
    scoped = InstanceStatements(caller.instance_id)
    query = scoped.select(notes).order_by(notes.c.pinned.desc(), notes.c.id)
    async with request.state.store.begin() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return NoteList(instanceId=caller.instance_id, notes=[_note(row) for row in rows])


LIST_NOTES = lean_route(
    "/api/notes",
    list_notes,
    Declaration.identified("list_notes", "The site's notes, pinned first.", NoteList),
)


@router.post("", status_code=201)
async def create_note(body: NoteIn, db: InstanceDB) -> Note:
    _require_owner(db)
    statement = db.insert(notes).values(text=body.text, pinned=body.pinned)
    result = await db.execute(statement.returning(*_columns()))
    return _note(result.mappings().one())


@router.patch("/{note_id}")
async def update_note(note_id: NoteId, body: NotePatch, db: InstanceDB) -> Note:
    _require_owner(db)
    changes = body.model_dump(exclude_none=True)
    if changes:
        statement = db.update(notes).where(notes.c.id == note_id).values(**changes)
        row = (await db.execute(statement.returning(*_columns()))).mappings().first()
    else:
        row = (await db.execute(db.select(notes).where(notes.c.id == note_id))).mappings().first()
    if row is None:
        raise _not_found(note_id)
    return _note(row)


@router.delete("/{note_id}", status_code=204)
async def delete_note(note_id: NoteId, db: InstanceDB) -> Response:
    _require_owner(db)
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
