"""An app's own tables, confined to one app instance: the statements every door builds.

The FastAPI backend's ``InstanceDB``, Flask's ``instance_db()`` and the transactions of
``SyncWixApp.instance_transaction`` all build their statements here, so the tenant filter
is written once (:func:`instance_filter`, the same as wixapp's own tables).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Delete, Insert, Select, Table, delete, insert, select, update
from sqlalchemy import Update as UpdateStatement
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql import Executable

from wixapp.models import Caller
from wixapp.store._store import instance_filter

__all__ = ["InstanceStatements", "SyncInstanceConnection"]


class InstanceStatements:
    """Statements on tables with an ``instance_id`` column, bound to one instance."""

    def __init__(self, instance_id: str) -> None:
        self._instance_id = instance_id

    @property
    def instance_id(self) -> str:
        """The app instance: the tenant key of every row this app stores."""
        return self._instance_id

    def select(self, table: Table) -> Select[Any]:
        """``SELECT … FROM table WHERE instance_id = <this one>``; chain more clauses."""
        return select(table).where(instance_filter(table, self.instance_id))

    def insert(self, table: Table) -> Insert:
        """``INSERT INTO table`` with this ``instance_id``; add ``.values(...)``."""
        return insert(table).values(instance_id=self.instance_id)

    def update(self, table: Table) -> UpdateStatement:
        """``UPDATE table … WHERE instance_id = <this one>``; add ``.values(...)``."""
        return update(table).where(instance_filter(table, self.instance_id))

    def delete(self, table: Table) -> Delete:
        """``DELETE FROM table WHERE instance_id = <this one>``; chain more clauses."""
        return delete(table).where(instance_filter(table, self.instance_id))


class SyncInstanceConnection(InstanceStatements):
    """A sync connection in a transaction, bound to one app instance (and, in a request,
    its caller)."""

    def __init__(
        self, connection: Connection, instance_id: str, caller: Caller | None = None
    ) -> None:
        super().__init__(instance_id)
        self._connection = connection
        self._caller = caller

    @property
    def caller(self) -> Caller:
        """Who is calling (``caller.is_user`` for the site owner in the editor)."""
        if self._caller is None:
            raise LookupError("This connection serves no request: it has no caller.")
        return self._caller

    @property
    def connection(self) -> Connection:
        """The raw connection, for statements built by hand (filter them by instance)."""
        return self._connection

    def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self._connection.execute(statement, parameters)
