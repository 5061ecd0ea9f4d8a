"""the event outbox: events written with each change, their deliveries and every attempt; mail preferences

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 11:30:00

Each change writes its events in its own transaction (a transactional outbox); `backlog deliver` and the
app's background worker plan one delivery per destination and send them with retries. Nothing here
touches the improvements table, so its triggers and indexes stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("improvement_id", sa.Integer, sa.ForeignKey("improvements.id", ondelete="SET NULL")),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("planned", sa.Boolean, nullable=False),
    )
    op.create_index(
        "ix_events_unplanned",
        "events",
        ["seq"],
        sqlite_where=sa.text("planned = 0"),
        postgresql_where=sa.text("NOT planned"),
    )
    op.create_index("ix_events_improvement", "events", ["improvement_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_seq", sa.Integer, sa.ForeignKey("events.seq", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ux_deliveries_event_target", "deliveries", ["event_seq", "channel", "target"], unique=True)
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])
    op.create_table(
        "mail_preferences",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mail_preferences")
    op.drop_table("delivery_attempts")
    op.drop_table("deliveries")
    op.drop_table("events")
