"""an index for the backlog page filtered to one quarter and kind, sorted by priority

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:05:00

A leader drilling into one quarter's kaikaku items sees them by priority. Without this index the
page sorts every match (thousands at 100,000 items); with it, it reads the first page and stops.
Created without batch mode, so SQLite's triggers on the table stay in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE = sa.text("merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_active_quarter_kind_priority",
        "improvements",
        ["quarter", "kind", "priority", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_active_quarter_kind_priority", table_name="improvements")
