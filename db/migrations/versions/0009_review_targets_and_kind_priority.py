"""quarter target mix, priority weights, the inputs of each kind's priority formula, done-date index

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 11:10:00

A leader sets the mix of kaizen, kaikaku and kakushin they want per quarter (``quarter_targets``) and
the weights of the three priority formulas (``priority_weights``). Items get the inputs those formulas
need (WSJF urgency and risk reduction, RICE reach and confidence) and the money an outcome protected.
Every live item's priority is recomputed by the formula that fits its kind. The done-date index lets the
review credit done items to the quarter they were done in. Columns are added without batch mode, so
SQLite's triggers on the table stay in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LIVE = sa.text("merged_into_id IS NULL")
NEW_COLUMNS = ("urgency", "risk_reduction", "reach", "rice_confidence", "value_protected")


def upgrade() -> None:
    op.add_column("improvements", sa.Column("urgency", sa.Integer(), nullable=True))
    op.add_column("improvements", sa.Column("risk_reduction", sa.Integer(), nullable=True))
    op.add_column("improvements", sa.Column("reach", sa.Integer(), nullable=True))
    op.add_column("improvements", sa.Column("rice_confidence", sa.Integer(), nullable=True))
    op.add_column("improvements", sa.Column("value_protected", sa.Numeric(16, 2, asdecimal=False), nullable=True))
    op.create_index("ix_active_done_at", "improvements", ["done_at", "id"], sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_table(
        "quarter_targets",
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("kaizen", sa.Integer(), nullable=False),
        sa.Column("kaikaku", sa.Integer(), nullable=False),
        sa.Column("kakushin", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("quarter"),
    )
    op.create_table(
        "priority_weights",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name"),
    )
    _rescore()


def _rescore() -> None:
    """Every live item's priority by its kind's formula, default weights (none are set yet)."""
    from improvement.prioritisation import ItemInputs, score

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, kind, value_at_risk, customers_affected, effort, impact FROM improvements "
            "WHERE merged_into_id IS NULL"
        )
    ).all()
    update = sa.text("UPDATE improvements SET priority = :priority WHERE id = :id")
    batch: list[dict[str, object]] = []
    for row in rows:
        inputs = ItemInputs(
            kind=row.kind,
            value_at_risk=float(row.value_at_risk or 0),
            customers_affected=int(row.customers_affected or 0),
            effort=int(row.effort or 3),
            impact=int(row.impact or 3),
        )
        batch.append({"id": row.id, "priority": score(inputs).value})
        if len(batch) >= 5000:
            bind.execute(update, batch)
            batch = []
    if batch:
        bind.execute(update, batch)


def downgrade() -> None:
    op.drop_table("priority_weights")
    op.drop_table("quarter_targets")
    op.drop_index("ix_active_done_at", table_name="improvements")
    for name in NEW_COLUMNS:
        op.drop_column("improvements", name)  # plain ALTER TABLE (SQLite 3.35+): the triggers stay
