"""This app's own tables. Every row belongs to one app instance (the Wix site's install).

wixapp keeps its own tables (all named ``wixapp_*``) and its own Alembic history beside
these; this app's migrations (``migrations/``) never touch them.
"""

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(128), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("pinned", Boolean, nullable=False, default=False),
)
