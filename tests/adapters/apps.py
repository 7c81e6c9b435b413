"""The same small per-instance app on every framework, for the adapter scenarios.

Each app has: ``GET /api/whoami`` (the caller), ``GET``/``POST /api/notes`` (notes kept per
instance: tenant isolation), ``GET /legacy/whoami`` (the signed ``instance`` parameter) and
``POST /webhooks``. FastAPI, Flask and Django also keep ``records`` in a database through
their per-instance data helpers (``GET``/``POST /api/records``, ``DELETE
/api/records/<id>``), purged by an ``AppRemoved`` handler. Each is driven by its
framework's own test client through a ``Probe``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from wixapp.store import make_sync_engine

NOTES_LIMIT = 100


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, else text

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Probe(Protocol):
    """One framework's test client, behind one signature."""

    name: str

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply: ...


def reply(status: int, headers: Mapping[str, str] | Any, content: bytes) -> Reply:
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    try:
        parsed: Any = json.loads(content)
    except ValueError:
        parsed = content.decode("utf-8", "replace")
    return Reply(status, lowered, parsed)


class Notes:
    """Per-instance notes: every read and write is keyed by the caller's instance."""

    def __init__(self) -> None:
        self._by_instance: dict[str, list[str]] = {}

    def add(self, instance_id: str, text: str) -> list[str]:
        notes = self._by_instance.setdefault(instance_id, [])
        notes.append(text[:NOTES_LIMIT])
        return list(notes)

    def of(self, instance_id: str) -> list[str]:
        return list(self._by_instance.get(instance_id, []))


metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(128), nullable=False, index=True),
    Column("text", Text, nullable=False),
)

ROLLED_BACK = "rolled back"
"""A record text the apps write, then answer 409: the write must not last."""


def create_records_table(database_url: str) -> None:
    engine = make_sync_engine(database_url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


async def in_thread(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A sync test client runs in a worker thread, as a WSGI server would run it."""
    return await asyncio.to_thread(call, *args, **kwargs)
