"""indexes for a quarter's kind by priority and a quarter's done items by value

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:05:00

A leader drilling into one quarter's kaikaku items sees them by priority; the review lists the quarter's
done items by value. Without these indexes the first sorts every match (thousands at 100,000 items) and
the second reads past every item not yet done; with them, each reads its first rows and stops. Created
without batch mode, so SQLite's triggers on the table stay in place.
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
    op.create_index(
        "ix_active_quarter_status_value",
        "improvements",
        ["quarter", "status", "value_at_risk", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_active_quarter_status_value", table_name="improvements")
    op.drop_index("ix_active_quarter_kind_priority", table_name="improvements")
