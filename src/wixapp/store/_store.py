"""Store: every query is scoped by one app instance ID, built by ``_tenant`` below."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import ColumnElement, Table, case, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wixapp.errors import InstanceRemovedError, SchemaNotReadyError
from wixapp.logs import LogLimiter
from wixapp.store._engine import make_engine, sqlite_busy_timeout
from wixapp.store._migrate import migrate as migrate_to_head
from wixapp.store._migrate import schema_is_behind
from wixapp.store._records import (
    UNSET,
    EventRecord,
    InstanceRecord,
    InstanceStatus,
    PreconditionFailedError,
    SettingsRecord,
    StoreUnavailableError,
    Unset,
    etag_for,
    matching_versions,
)
from wixapp.store._schema import ID_LENGTH, instances, settings, webhook_events
from wixapp.store._unavailable import unavailable

__all__ = ["Store", "instance_filter"]

logger = logging.getLogger("wixapp.store")

_Insert = postgresql.Insert | sqlite.Insert


def _utcnow() -> datetime:
    return datetime.now(UTC)


def instance_filter(table: Table, instance_id: str) -> ColumnElement[bool]:
    """The WHERE clause that confines a query on ``table`` (which has an ``instance_id``
    column) to one instance: the one tenant filter of wixapp's tables and of an app's own."""
    return table.c.instance_id == _checked(instance_id)


def _checked(instance_id: str) -> str:
    if not isinstance(instance_id, str) or not 0 < len(instance_id) <= ID_LENGTH:
        raise ValueError(f"instance_id must be a non-empty string of at most {ID_LENGTH} chars")
    return instance_id


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Store:
    """Per-instance storage over an AsyncEngine (SQLite or PostgreSQL).

    Build it with ``await Store.open(url)`` (schema already migrated) or
    ``await Store.create(url)`` (migrates first), or inject an engine. Methods that can fail
    because the database is down raise StoreUnavailableError.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = _utcnow,
        app_migrations: str | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._app_migrations = app_migrations

    @classmethod
    async def open(
        cls,
        database_url: str,
        *,
        migrate: bool = False,
        app_migrations: str | None = None,
        **engine_options: Any,
    ) -> Self:
        """A store on ``database_url``; ``migrate=True`` first brings the schema up to date:
        wixapp's, then the app's own migrations at ``app_migrations`` (if given), which
        :meth:`pending_migrations` compares too."""
        if migrate:
            await asyncio.to_thread(migrate_to_head, database_url, app_migrations=app_migrations)
        return cls(make_engine(database_url, **engine_options), app_migrations=app_migrations)

    @classmethod
    async def create(cls, database_url: str, **engine_options: Any) -> Self:
        """Migrate the database to the newest schema, then open it."""
        return await cls.open(database_url, migrate=True, **engine_options)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def ping(self) -> None:
        """Readiness: raises StoreUnavailableError unless the database answers."""
        async with self._connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def pending_migrations(self) -> bool:
        """Whether the schema is behind this version's migrations, wixapp's or the app's own
        (``wixapp migrate``)."""
        async with self._connect() as conn:
            return await conn.run_sync(schema_is_behind, self._app_migrations)

    # Instances

    async def touch_instance(
        self, instance_id: str, *, site_id: str | None = None, seen_at: datetime | None = None
    ) -> None:
        """Record that the instance was seen: creates its row or moves last_seen_at forward."""
        await self.touch_many({instance_id: (site_id, seen_at or self._clock())})

    async def touch_many(self, seen: Mapping[str, tuple[str | None, datetime | float]]) -> None:
        """Batched touch_instance: ``{instance_id: (site_id or None, seen_at)}``; a float
        ``seen_at`` is Unix time in seconds."""
        if not seen:
            return
        # Sorted keys lock rows in one order, so concurrent flushes cannot deadlock.
        rows = [
            self._new_instance(instance_id, _as_datetime(at)) | {"site_id": site_id}
            for instance_id, (site_id, at) in sorted(seen.items())
        ]
        stmt = self._insert(instances)
        stmt = stmt.on_conflict_do_update(
            index_elements=[instances.c.instance_id],
            set_={
                "last_seen_at": _later(instances.c.last_seen_at, stmt.excluded.last_seen_at),
                "site_id": func.coalesce(stmt.excluded.site_id, instances.c.site_id),
            },
        )
        async with self.begin() as conn:
            await conn.execute(stmt, rows)

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        stmt = select(instances).where(instance_filter(instances, instance_id))
        async with self._connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _instance_record(row)

    async def update_instance_info(
        self,
        instance_id: str,
        *,
        site_id: str | Unset | None = UNSET,
        site_url: str | Unset | None = UNSET,
        locale: str | Unset | None = UNSET,
        package_name: str | Unset | None = UNSET,
        vendor_product_id: str | Unset | None = UNSET,
        billing_cycle: str | Unset | None = UNSET,
        is_free: bool | Unset | None = UNSET,
        plan_expires_at: datetime | Unset | None = UNSET,
    ) -> None:
        """Store what Wix says about the instance now; UNSET fields are left alone."""
        given = {
            "site_id": site_id,
            "site_url": site_url,
            "locale": locale,
            "package_name": package_name,
            "vendor_product_id": vendor_product_id,
            "billing_cycle": billing_cycle,
            "is_free": is_free,
            "plan_expires_at": plan_expires_at,
        }
        changes = {key: value for key, value in given.items() if value is not UNSET}
        await self._upsert_instance(instance_id, changes)

    # Lifecycle (webhooks may arrive late or out of order: only newer events apply)

    async def mark_installed(self, instance_id: str, *, at: datetime) -> bool:
        """Active again from ``at`` on, unless a newer lifecycle event is stored."""
        changes = {
            "status": InstanceStatus.ACTIVE.value,
            "installed_at": at,
            "removed_at": None,
            "lifecycle_at": at,
        }
        return await self._upsert_instance(instance_id, changes, _newer("lifecycle_at", at))

    async def removed_instances(self, limit: int) -> list[str]:
        """The IDs of instances removed now, the most recently removed first, at most
        ``limit``: what every process must refuse."""
        stmt = (
            select(instances.c.instance_id)
            .where(instances.c.status == InstanceStatus.REMOVED.value)
            .order_by(instances.c.removed_at.desc())
            .limit(limit)
        )
        async with self._connect() as conn:
            return [str(each) for each in (await conn.execute(stmt)).scalars()]

    async def removed_at(self, instance_id: str) -> datetime | None:
        """When the instance was removed, or None while it is installed (or unknown): what a
        process re-reads when told of a lifecycle change, rather than trusting the message."""
        stmt = select(instances.c.removed_at).where(
            instance_filter(instances, instance_id),
            instances.c.status == InstanceStatus.REMOVED.value,
        )
        async with self._connect() as conn:
            removed: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
        return removed

    async def mark_removed(self, instance_id: str, *, at: datetime) -> bool:
        """Removed at ``at``, unless a newer lifecycle event is stored."""
        changes = {"status": InstanceStatus.REMOVED.value, "removed_at": at, "lifecycle_at": at}
        return await self._upsert_instance(instance_id, changes, _newer("lifecycle_at", at))

    async def apply_plan(
        self,
        instance_id: str,
        *,
        at: datetime,
        package_name: str | None,
        vendor_product_id: str | None = None,
        billing_cycle: str | None = None,
        is_free: bool = False,
        expires_at: datetime | None = None,
    ) -> bool:
        """Replace the plan with the one a plan event describes, unless a newer one is stored."""
        changes = {
            "package_name": package_name,
            "vendor_product_id": vendor_product_id,
            "billing_cycle": billing_cycle,
            "is_free": is_free,
            "plan_expires_at": expires_at,
            "plan_event_at": at,
        }
        return await self._upsert_instance(instance_id, changes, _newer("plan_event_at", at))

    async def _upsert_instance(
        self,
        instance_id: str,
        changes: Mapping[str, object],
        only_if: ColumnElement[bool] | None = None,
    ) -> bool:
        """Insert the instance with ``changes`` or apply them; False if nothing was written."""
        stmt = self._insert(instances).values({**self._new_instance(instance_id), **changes})
        if changes:
            stmt = stmt.on_conflict_do_update(
                index_elements=[instances.c.instance_id], set_=changes, where=only_if
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[instances.c.instance_id])
        async with self.begin() as conn:
            result = await conn.execute(stmt.returning(instances.c.instance_id))
            return result.first() is not None

    def _new_instance(self, instance_id: str, at: datetime | None = None) -> dict[str, object]:
        at = at or self._clock()
        return {
            "instance_id": _checked(instance_id),
            "status": InstanceStatus.ACTIVE.value,
            "first_seen_at": at,
            "last_seen_at": at,
        }

    # Settings

    async def get_settings(self, instance_id: str) -> SettingsRecord | None:
        stmt = select(settings).where(instance_filter(settings, instance_id))
        async with self._connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _settings_record(row)

    async def put_settings(
        self,
        instance_id: str,
        document: Mapping[str, Any],
        *,
        if_match: str | None,
        create_only: bool = False,
        updated_by: str | None = None,
    ) -> SettingsRecord:
        """Write the document, or raise PreconditionFailedError when the condition does not hold.

        ``if_match``: None writes unconditionally, "*" needs existing settings, ETags (one
        or an If-Match list) must include the current one. ``create_only`` (If-None-Match:
        *) writes only if the instance has no settings yet.
        """
        if create_only and if_match is not None:
            raise ValueError("create_only excludes if_match: nothing can both exist and not")
        values = {
            "document": _dump(document),
            "updated_at": self._clock(),
            "updated_by": updated_by,
        }
        async with self.begin() as conn:
            await self._refuse_if_removed(conn, instance_id)
            if create_only:
                version = await self._insert_settings(conn, instance_id, values)
            elif if_match is None:
                version = await self._upsert_settings(conn, instance_id, values)
            else:
                version = await self._swap_settings(conn, instance_id, values, if_match)
        return _settings_record({"instance_id": instance_id, "version": version, **values})

    async def purge_settings(self, instance_id: str) -> bool:
        """Delete the instance's settings; False if it had none."""
        async with self.begin() as conn:
            result = await conn.execute(
                delete(settings).where(instance_filter(settings, instance_id))
            )
        return result.rowcount > 0

    async def purge_settings_if_removed(self, instance_id: str) -> bool:
        """Delete the instance's settings only while it is removed, in one statement, so a
        reinstall that lands meanwhile keeps its new settings; False if nothing was deleted."""
        removed = select(instances.c.instance_id).where(
            instance_filter(instances, instance_id),
            instances.c.status == InstanceStatus.REMOVED.value,
        )
        stmt = delete(settings).where(
            instance_filter(settings, instance_id), settings.c.instance_id.in_(removed)
        )
        async with self.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount > 0

    async def purge_removed_settings(self, *, removed_before: datetime) -> list[str]:
        """The retention sweep: delete the settings of every instance still removed and
        removed before ``removed_before``; returns their instance IDs.

        The one write that spans tenants on purpose; its condition is the removal itself.
        """
        expired = select(instances.c.instance_id).where(
            instances.c.status == InstanceStatus.REMOVED.value,
            instances.c.removed_at < removed_before,
        )
        stmt = delete(settings).where(settings.c.instance_id.in_(expired))
        async with self.begin() as conn:
            result = await conn.execute(stmt.returning(settings.c.instance_id))
            return sorted(str(instance_id) for instance_id in result.scalars())

    async def _refuse_if_removed(self, conn: AsyncConnection, instance_id: str) -> None:
        """No write creates data for a removed instance. The instance's row is created if
        missing and locked, so a removal applied concurrently waits for this write and its
        purge then sees it (SQLite: the write lock already serialises them)."""
        await self._ensure_instance(conn, instance_id)
        stmt = select(instances.c.status).where(instance_filter(instances, instance_id))
        stmt = stmt.with_for_update()
        if (await conn.execute(stmt)).scalar_one() == InstanceStatus.REMOVED.value:
            raise InstanceRemovedError()

    async def _upsert_settings(
        self, conn: AsyncConnection, instance_id: str, values: dict[str, Any]
    ) -> int:
        stmt = self._insert(settings).values(instance_id=instance_id, version=1, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[settings.c.instance_id],
            set_={**values, "version": settings.c.version + 1},
        )
        return int((await conn.execute(stmt.returning(settings.c.version))).scalar_one())

    async def _insert_settings(
        self, conn: AsyncConnection, instance_id: str, values: dict[str, Any]
    ) -> int:
        stmt = self._insert(settings).values(instance_id=instance_id, version=1, **values)
        stmt = stmt.on_conflict_do_nothing(index_elements=[settings.c.instance_id])
        if (await conn.execute(stmt.returning(settings.c.version))).first() is None:
            raise PreconditionFailedError(current_etag=await self._current_etag(conn, instance_id))
        return 1

    async def _ensure_instance(self, conn: AsyncConnection, instance_id: str) -> None:
        stmt = self._insert(instances).values(self._new_instance(instance_id))
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=[instances.c.instance_id]))

    async def _swap_settings(
        self, conn: AsyncConnection, instance_id: str, values: dict[str, Any], if_match: str
    ) -> int:
        # One UPDATE compares and swaps, so of two writers with the same ETag only one wins.
        stmt = update(settings).where(instance_filter(settings, instance_id))
        if if_match.strip() != "*":
            stmt = stmt.where(settings.c.version.in_(matching_versions(if_match)))
        stmt = stmt.values(version=settings.c.version + 1, **values)
        version = (await conn.execute(stmt.returning(settings.c.version))).scalar_one_or_none()
        if version is None:
            raise PreconditionFailedError(current_etag=await self._current_etag(conn, instance_id))
        return int(version)

    async def _current_etag(self, conn: AsyncConnection, instance_id: str) -> str | None:
        stmt = select(settings.c.version).where(instance_filter(settings, instance_id))
        version = (await conn.execute(stmt)).scalar_one_or_none()
        return None if version is None else etag_for(int(version))

    # Webhook deliveries

    async def record_event(
        self,
        instance_id: str,
        *,
        event_id: str,
        event_type: str,
        payload: Mapping[str, Any],
        event_at: datetime | None = None,
        received_at: datetime | None = None,
    ) -> bool:
        """Remember a delivery; False if ``event_id`` was recorded before (a redelivery)."""
        stmt = self._insert(webhook_events).values(
            id=event_id,
            instance_id=_checked(instance_id),
            event_type=event_type,
            received_at=received_at or self._clock(),
            event_at=event_at,
            payload=_dump(payload),
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=[webhook_events.c.id])
        async with self.begin() as conn:
            result = await conn.execute(stmt.returning(webhook_events.c.id))
            return result.first() is not None

    async def forget_event(self, instance_id: str, *, event_id: str) -> bool:
        """Undo ``record_event`` (its handling failed), so Wix's retry is not a redelivery."""
        stmt = delete(webhook_events).where(
            instance_filter(webhook_events, instance_id), webhook_events.c.id == event_id
        )
        async with self.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount > 0

    async def list_events(self, instance_id: str, *, limit: int = 100) -> list[EventRecord]:
        """The instance's recorded deliveries, oldest received first."""
        stmt = (
            select(webhook_events)
            .where(instance_filter(webhook_events, instance_id))
            .order_by(webhook_events.c.received_at, webhook_events.c.id)
            .limit(limit)
        )
        async with self._connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_event_record(row) for row in rows]

    # Plumbing

    def _insert(self, table: Table) -> _Insert:
        """INSERT with the dialect's ON CONFLICT support."""
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        async with self._translated_errors(), self._engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction (committed when the block ends without an error);
        the database being down or busy raises StoreUnavailableError. For an app's own
        tables, beside wixapp's; always filter by instance (``wixapp.server.InstanceDB``
        does)."""
        async with self._translated_errors(), self._engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _translated_errors(self) -> AsyncIterator[None]:
        started = self._clock()
        try:
            yield
        except (OperationalError, InterfaceError, ProgrammingError) as exc:
            if _missing_schema(exc):
                _log_missing_schema(exc)
                raise SchemaNotReadyError() from exc
            if isinstance(exc, ProgrammingError):
                raise
            raise self._unavailable(exc, started) from exc
        except PoolTimeoutError as exc:
            raise self._unavailable(exc, started) from exc
        except StatementError as exc:
            if isinstance(exc.orig, ValueError):  # a bad argument, e.g. a naive datetime
                raise exc.orig from None
            raise

    def _unavailable(
        self, error: DBAPIError | PoolTimeoutError, started: datetime
    ) -> StoreUnavailableError:
        return unavailable(
            error,
            waited=(self._clock() - started).total_seconds(),
            busy_timeout=sqlite_busy_timeout(self._engine.sync_engine),
            pool_status=self._engine.pool.status(),
        )


def _missing_schema(exc: DBAPIError) -> bool:
    """A table or column the migrations create is missing (SQLite, PostgreSQL)."""
    if getattr(exc.orig, "sqlstate", None) in ("42P01", "42703"):  # undefined table, column
        return True
    text = str(exc.orig).lower()
    return any(sign in text for sign in _SQLITE_MISSING)


# SELECT/UPDATE say "no such column: t.c"; INSERT says "table t has no column named c".
_SQLITE_MISSING = ("no such table", "no such column", "has no column named")
# Once per missing table or column: each request needing it fails the same way.
_missing_logged = LogLimiter(interval=None)


def _log_missing_schema(exc: DBAPIError) -> None:
    missing = (str(exc.orig).strip().splitlines() or ["?"])[0][:200]  # never the statement
    if _missing_logged.allow(missing) is not None:
        logger.error(
            "the database schema lacks what this code needs (%s): a migration has not run; "
            "run `wixapp migrate` (WIXAPP_MIGRATIONS names the app's own); until then such "
            "requests answer 503 migrations_pending",
            missing,
        )


def _newer(marker: str, at: datetime) -> ColumnElement[bool]:
    """Order tolerance: an event applies only if it is not older than the last one applied.
    A tie (the same second) goes to the event applied last: see ``wixapp.web.lifecycle``."""
    column = instances.c[marker]
    return or_(column.is_(None), column <= at)


def _as_datetime(at: datetime | float) -> datetime:
    return at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)


def _later(current: ColumnElement[Any], candidate: ColumnElement[Any]) -> ColumnElement[Any]:
    # Flushes from several processes may arrive out of order; last_seen only moves forward.
    return case((current < candidate, candidate), else_=current)


def _instance_record(row: RowMapping) -> InstanceRecord:
    return InstanceRecord(**{**row, "status": InstanceStatus(row["status"])})


def _settings_record(row: Mapping[Any, Any]) -> SettingsRecord:
    return SettingsRecord(
        instance_id=row["instance_id"],
        document=json.loads(row["document"]),
        version=int(row["version"]),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _event_record(row: RowMapping) -> EventRecord:
    return EventRecord(
        event_id=row["id"],
        instance_id=row["instance_id"],
        event_type=row["event_type"],
        received_at=row["received_at"],
        event_at=row["event_at"],
        payload=json.loads(row["payload"]),
    )
