"""The tables, as SQLAlchemy Core metadata. Migrations are frozen copies of this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "ID_LENGTH",
    "TABLE_PREFIX",
    "VERSION_TABLE",
    "UTCDateTime",
    "instances",
    "is_wixapp_table",
    "metadata",
    "settings",
    "webhook_events",
]

ID_LENGTH = 128
# wixapp's tables and its Alembic version table share this prefix, so an app's own tables
# and migrations sit beside them in the same database without clashing.
TABLE_PREFIX = "wixapp_"
VERSION_TABLE = "wixapp_alembic_version"


def is_wixapp_table(name: str | None) -> bool:
    """Whether a table of that name belongs to wixapp (its own tables and version table)."""
    return bool(name) and str(name).startswith(TABLE_PREFIX)


# Named constraints keep future batch migrations (SQLite table rebuilds) deterministic.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them naive, so ordering stays textual."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store timestamps must be timezone-aware; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


instances = Table(
    "wixapp_instances",
    metadata,
    Column("instance_id", String(ID_LENGTH), primary_key=True),
    Column("site_id", String(ID_LENGTH)),
    Column("status", String(16), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("installed_at", UTCDateTime),
    Column("removed_at", UTCDateTime),
    Column("lifecycle_at", UTCDateTime),
    Column("package_name", String(200)),
    Column("vendor_product_id", String(200)),
    Column("billing_cycle", String(64)),
    Column("is_free", Boolean),
    Column("plan_expires_at", UTCDateTime),
    Column("plan_event_at", UTCDateTime),
    Column("site_url", Text),
    Column("locale", String(64)),
    CheckConstraint("status IN ('active', 'removed')", name="status"),
)

settings = Table(
    "wixapp_settings",
    metadata,
    Column(
        "instance_id",
        String(ID_LENGTH),
        ForeignKey("wixapp_instances.instance_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("document", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(ID_LENGTH)),
)

# No foreign key: a delivery may precede the first request, and events outlive purges.
webhook_events = Table(
    "wixapp_webhook_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("instance_id", String(ID_LENGTH), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("event_at", UTCDateTime),
    Column("payload", Text, nullable=False),
)
