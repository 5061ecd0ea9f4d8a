"""a stable key on every report, so re-importing a file or an export adds nothing twice

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 14:30:00

``problems.report_key`` is the SHA-256 of a report's time and normalised text fields
(``improvement.domain.report_key``), unique where set. Existing reports get their key here, so an
export taken before this migration is recognised when it is imported again; of several existing reports
with the same key (the same time and text) the oldest carries it and the others stay without one. The
column is added without batch mode, so SQLite's triggers stay in place (there are none on ``problems``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.add_column("problems", sa.Column("report_key", sa.String(length=64), nullable=True))
    _backfill()
    op.create_index("ux_problems_report_key", "problems", ["report_key"], unique=True)


def _backfill() -> None:
    from improvement.domain import REPORT_KEY_FIELDS, report_key

    bind = op.get_bind()
    columns = ", ".join(REPORT_KEY_FIELDS)
    select = sa.text(
        f"SELECT id, created_at, {columns} FROM problems WHERE id > :last ORDER BY id LIMIT {BATCH}"
    ).columns(created_at=sa.DateTime(timezone=True))
    update = sa.text("UPDATE problems SET report_key = :key WHERE id = :id")
    seen: set[str] = set()
    last = 0
    while True:
        rows = bind.execute(select, {"last": last}).mappings().all()
        if not rows:
            return
        batch = []
        for row in rows:
            key = report_key(row["created_at"], {name: row[name] for name in REPORT_KEY_FIELDS})
            if key not in seen:
                seen.add(key)
                batch.append({"id": row["id"], "key": key})
        if batch:
            bind.execute(update, batch)
        last = rows[-1]["id"]


def downgrade() -> None:
    op.drop_index("ux_problems_report_key", table_name="problems")
    op.drop_column("problems", "report_key")
