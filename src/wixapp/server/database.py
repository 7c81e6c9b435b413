"""The app's own tables from its routes: a connection bound to the caller's instance.

::

    from wixapp.server import InstanceDB

    @app.get("/api/notes")
    async def list_notes(db: InstanceDB) -> list[dict[str, object]]:
        rows = await db.execute(db.select(notes).order_by(notes.c.id))
        return [dict(row) for row in rows.mappings()]

Each request gets one transaction, committed when the route returns (before the answer is
sent, so a failed commit is the request's error) and rolled back if it raises. The
statements built by ``db.select``, ``db.insert``, ``db.update`` and ``db.delete`` carry the
caller's instance, through the same tenant filter as wixapp's own tables. Background work
uses :func:`database_engine` instead.

``db.after_commit(action)`` runs ``action`` once the transaction has committed, still before
the answer goes out: invalidate a cache of what the route wrote there
(``cache.invalidate(db.instance_id)``), so that no reader can load the old rows back
between the invalidation and the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable
from starlette.applications import Starlette

from wixapp.models import Caller
from wixapp.server.routes import current_caller
from wixapp.server.state import ServerState, server_state
from wixapp.store import InstanceStatements

__all__ = ["InstanceConnection", "InstanceDB", "database_engine", "instance_connection"]


class InstanceConnection(InstanceStatements):
    """A database connection in a transaction, bound to one caller's app instance."""

    def __init__(self, connection: AsyncConnection, caller: Caller) -> None:
        super().__init__(caller.instance_id)
        self._connection = connection
        self._caller = caller
        self._after_commit: list[Callable[[], Awaitable[object]]] = []

    @property
    def caller(self) -> Caller:
        """Who is calling (``caller.is_user`` for the site owner in the editor)."""
        return self._caller

    @property
    def connection(self) -> AsyncConnection:
        """The raw connection, for statements built by hand (filter them by instance)."""
        return self._connection

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return await self._connection.execute(statement, parameters)

    def after_commit(self, action: Callable[[], Awaitable[object]]) -> None:
        """Await ``action()`` once the transaction has committed (in the order given),
        before the answer goes out; never if the route raises or the commit fails."""
        self._after_commit.append(action)

    async def committed(self) -> None:
        """Run the actions :meth:`after_commit` queued (the dependency calls this)."""
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            await action()


async def instance_connection(
    request: Request, caller: Annotated[Caller, Depends(current_caller)]
) -> AsyncIterator[InstanceConnection]:
    """The FastAPI dependency behind :data:`InstanceDB`."""
    async with server_state(request).store.begin() as connection:
        db = InstanceConnection(connection, caller)
        yield db
    await db.committed()


# scope="function": the transaction ends before the answer goes out, so the client never
# sees a success whose commit then failed.
InstanceDB = Annotated[InstanceConnection, Depends(instance_connection, scope="function")]


def database_engine(app: Starlette) -> AsyncEngine:
    """The running backend's engine (pool shared with the routes), for background work
    started in the app's lifespan. Filter every query by instance."""
    state: ServerState = app.state.wixapp
    return state.store.engine
