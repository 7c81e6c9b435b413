"""Initial schema: instances, settings, webhook_events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "instances",
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
        sa.CheckConstraint("status IN ('active', 'removed')", name="ck_instances_status"),
        sa.PrimaryKeyConstraint("instance_id", name="pk_instances"),
    )
    op.create_table(
        "settings",
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.Column("updated_by", ID),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.instance_id"],
            name="fk_settings_instance_id_instances",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name="pk_settings"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        _timestamp("received_at", nullable=False),
        _timestamp("event_at"),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
    )
    op.create_index("ix_webhook_events_instance_id", "webhook_events", ["instance_id"])
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"])


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("settings")
    op.drop_table("instances")
