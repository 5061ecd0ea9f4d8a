"""people and their roles, for sign-in

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 11:50:00

With BACKLOG_AUTH=oidc a person is known by the e-mail address their identity provider vouches for; the
role that decides what they may do is kept here and granted by admins (`backlog users`, the People page).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("role_changed_by", sa.String(200), nullable=False),
        sa.Column("role_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("people")
