"""word search with stemming, and saved views

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 11:10:00

"logs out" should find "logs customers out": the words of a search, in any order, stemmed ("logging"
finds "logs"). SQLite gets a second FTS5 table over titles and descriptions with the porter tokenizer,
kept by triggers like the trigram table of 0004; PostgreSQL gets a GIN index on the English tsvector of
the same text, which ``to_tsvector(...) @@ plainto_tsquery(...)`` uses. An SQLite without FTS5 skips the
table and word search falls back to matching each word as a substring.

``saved_views`` holds the named filters people save on the backlog page and reopen.
Created without batch mode, so the triggers on ``improvements`` stay in place.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

SQLITE_TRIGGERS = {
    "improvements_words_insert": (
        "AFTER INSERT ON improvements BEGIN "
        "INSERT INTO improvements_words (rowid, title, description) VALUES (NEW.id, NEW.title, NEW.description); END"
    ),
    "improvements_words_delete": (
        "AFTER DELETE ON improvements BEGIN "
        "INSERT INTO improvements_words (improvements_words, rowid, title, description) "
        "VALUES ('delete', OLD.id, OLD.title, OLD.description); END"
    ),
    "improvements_words_update": (
        "AFTER UPDATE OF title, description ON improvements BEGIN "
        "INSERT INTO improvements_words (improvements_words, rowid, title, description) "
        "VALUES ('delete', OLD.id, OLD.title, OLD.description); "
        "INSERT INTO improvements_words (rowid, title, description) VALUES (NEW.id, NEW.title, NEW.description); END"
    ),
}
# Must match db.repository.PG_WORDS exactly, or PostgreSQL will not use the index.
PG_WORDS_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_improvements_words ON improvements USING gin "
    "(to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || coalesce(description, '')))"
)


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(PG_WORDS_INDEX)
        return
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE improvements_words USING fts5("
                "title, description, content='improvements', content_rowid='id', tokenize='porter unicode61')"
            )
    except Exception as error:  # noqa: BLE001 - an SQLite built without FTS5
        log.warning("this SQLite has no FTS5 (%s): word search will read every item", error)
        return
    op.execute("INSERT INTO improvements_words (improvements_words) VALUES ('rebuild')")
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_improvements_words")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS improvements_words")
    op.drop_table("saved_views")
