"""wixapp's tables take the ``wixapp_`` prefix (their constraints and indexes too), so an
app's own tables and migrations can live in the same database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
TABLES = ("instances", "settings", "webhook_events")
# (table, name as 0001 made it, name under the prefix); 0001 ran under the naming
# convention, which doubled the check constraint's prefix.
CONSTRAINTS = (
    ("instances", "pk_instances", "pk_wixapp_instances"),
    ("instances", "ck_instances_ck_instances_status", "ck_wixapp_instances_status"),
    ("settings", "pk_settings", "pk_wixapp_settings"),
    (
        "settings",
        "fk_settings_instance_id_instances",
        "fk_wixapp_settings_instance_id_wixapp_instances",
    ),
    ("webhook_events", "pk_webhook_events", "pk_wixapp_webhook_events"),
)
INDEXES = {"webhook_events": ("instance_id", "received_at")}


def upgrade() -> None:
    _rename("", "wixapp_")


def downgrade() -> None:
    _rename("wixapp_", "")


def _rename(old: str, new: str) -> None:
    for table, columns in INDEXES.items():
        for column in columns:
            op.drop_index(f"ix_{old}{table}_{column}", table_name=old + table)
    for table in TABLES:
        op.rename_table(old + table, new + table)
    names = {before: after if new else before for _, before, after in CONSTRAINTS}
    if op.get_bind().dialect.name == "postgresql":
        for table, before, after in CONSTRAINTS:
            current, wanted = (before, after) if new else (after, before)
            op.execute(f'ALTER TABLE "{new}{table}" RENAME CONSTRAINT "{current}" TO "{wanted}"')
    else:
        _rebuild_sqlite_tables(new, names)
    for table, columns in INDEXES.items():
        for column in columns:
            op.create_index(f"ix_{new}{table}_{column}", new + table, [column])


def _rebuild_sqlite_tables(prefix: str, names: dict[str, str]) -> None:
    # SQLite keeps constraint names inside each table's CREATE statement: rebuild the tables
    # from frozen definitions carrying the new names (data copied by Alembic's batch mode).
    for table in _frozen_tables(prefix, names):
        with op.batch_alter_table(table.name, recreate="always", copy_from=table):
            pass


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _frozen_tables(prefix: str, names: dict[str, str]) -> list[sa.Table]:
    """The three tables as 0001 made them, under ``prefix``, constraints named by ``names``
    (keyed by their 0001 names)."""
    meta = sa.MetaData()
    instances = sa.Table(
        f"{prefix}instances",
        meta,
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("site_id", ID),
        sa.Column("status", sa.String(16), nullable=False),
        _timestamp("first_seen_at", nullable=False),
        _timestamp("last_seen_at", nullable=False),
        _timestamp("installed_at"),
        _timestamp("removed_at"),
        _timestamp("lifecycle_at"),
        sa.Column("package_name", sa.String(200)),
        sa.Column("vendor_product_id", sa.String(200)),
        sa.Column("billing_cycle", sa.String(64)),
        sa.Column("is_free", sa.Boolean()),
        _timestamp("plan_expires_at"),
        _timestamp("plan_event_at"),
        sa.Column("site_url", sa.Text()),
        sa.Column("locale", sa.String(64)),
        sa.CheckConstraint(
            "status IN ('active', 'removed')", name=names["ck_instances_ck_instances_status"]
        ),
        sa.PrimaryKeyConstraint("instance_id", name=names["pk_instances"]),
    )
    settings = sa.Table(
        f"{prefix}settings",
        meta,
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.Column("updated_by", ID),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            [f"{prefix}instances.instance_id"],
            name=names["fk_settings_instance_id_instances"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=names["pk_settings"]),
    )
    events = sa.Table(
        f"{prefix}webhook_events",
        meta,
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        _timestamp("received_at", nullable=False),
        _timestamp("event_at"),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=names["pk_webhook_events"]),
    )
    return [instances, settings, events]
