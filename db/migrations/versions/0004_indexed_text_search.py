"""indexed text search: substring search over titles and descriptions without reading every item

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:40:00

The backlog's search box finds any substring, case-insensitively. Both indexes keep that meaning:
SQLite gets an FTS5 table with the trigram tokenizer (kept by triggers, like the rollups); PostgreSQL
gets pg_trgm GIN indexes that serve ``lower(column) LIKE '%text%'`` directly. Where either cannot be
had (an SQLite older than 3.34 or built without FTS5; no pg_trgm package or privilege) the migration
skips it and search still works, by reading the items.

Note for later migrations: on SQLite, Alembic's batch mode rebuilds a table by copying it, which drops
its triggers; a migration that batch-alters ``improvements`` must create them again (a test checks
that every trigger exists after upgrading).
"""

from __future__ import annotations

import logging

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

SQLITE_TRIGGERS = {
    "improvements_text_insert": (
        "AFTER INSERT ON improvements BEGIN "
        "INSERT INTO improvements_text (rowid, title, description) VALUES (NEW.id, NEW.title, NEW.description); END"
    ),
    "improvements_text_delete": (
        "AFTER DELETE ON improvements BEGIN "
        "INSERT INTO improvements_text (improvements_text, rowid, title, description) "
        "VALUES ('delete', OLD.id, OLD.title, OLD.description); END"
    ),
    "improvements_text_update": (
        "AFTER UPDATE OF title, description ON improvements BEGIN "
        "INSERT INTO improvements_text (improvements_text, rowid, title, description) "
        "VALUES ('delete', OLD.id, OLD.title, OLD.description); "
        "INSERT INTO improvements_text (rowid, title, description) VALUES (NEW.id, NEW.title, NEW.description); END"
    ),
}
PG_INDEXES = {
    "ix_improvements_title_trgm": "lower(title) gin_trgm_ops",
    "ix_improvements_description_trgm": "lower(description) gin_trgm_ops",
}


def _postgres_upgrade() -> None:
    connection = op.get_bind()
    available = connection.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").scalar()
    if not available:
        log.warning("pg_trgm is not available: text search will read every item")
        return
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as error:  # noqa: BLE001 - any refusal means the same thing: search without the index
        log.warning("pg_trgm could not be installed (%s): text search will read every item", error)
        return
    for name, expression in PG_INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON improvements USING gin ({expression})")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_upgrade()
        return
    connection = op.get_bind()
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE improvements_text USING fts5("
                "title, description, content='improvements', content_rowid='id', tokenize='trigram')"
            )
    except Exception as error:  # noqa: BLE001 - an SQLite without FTS5 or older than 3.34 (no trigram tokenizer)
        log.warning("this SQLite has no FTS5 trigram tokenizer (%s): text search will read every item", error)
        return
    op.execute("INSERT INTO improvements_text (improvements_text) VALUES ('rebuild')")
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS improvements_text")
