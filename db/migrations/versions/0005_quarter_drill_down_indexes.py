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

INDEXES = {
    "ix_active_quarter_kind_priority": ["quarter", "kind", "priority", "id"],
    "ix_active_quarter_status_value": ["quarter", "status", "value_at_risk", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "improvements", columns, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="improvements")
