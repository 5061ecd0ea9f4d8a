"""rollup tables kept by triggers, so the review and page totals cost the same at any backlog size

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:05:00

The triggers live in the database, not in our code, so every writer keeps the rollups right: the
services, bulk imports, seed-demo's COPY, a restore, someone's SQL console. PostgreSQL gets
statement-level triggers over transition tables (one aggregated upsert per statement, however many
rows it touched); SQLite has only row-level triggers, one small upsert per changed row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Columns whose change moves an item from one rollup row to another (or changes its sums).
ROLLED_UP = (
    "quarter",
    "kind",
    "status",
    "needs_review",
    "currency",
    "owner",
    "value_at_risk",
    "customers_affected",
    "merged_into_id",
)
KIND_KEY = "quarter, kind, status, needs_review, currency"
OWNER_KEY = "quarter, owner, kind, status"
EVENTS = ("INSERT", "UPDATE", "DELETE")


def _create_tables() -> None:
    op.create_table(
        "rollup_by_kind",
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("value_at_risk", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=False),
        sa.Column("customers_affected", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("quarter", "kind", "status", "needs_review", "currency"),
    )
    op.create_table(
        "rollup_by_owner",
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("value_at_risk", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=False),
        sa.PrimaryKeyConstraint("quarter", "owner", "kind", "status"),
    )


def _backfill() -> None:
    op.execute(
        f"INSERT INTO rollup_by_kind ({KIND_KEY}, item_count, value_at_risk, customers_affected) "
        f"SELECT {KIND_KEY}, count(*), coalesce(sum(value_at_risk), 0), coalesce(sum(customers_affected), 0) "
        f"FROM improvements WHERE merged_into_id IS NULL GROUP BY {KIND_KEY}"
    )
    op.execute(
        f"INSERT INTO rollup_by_owner ({OWNER_KEY}, item_count, value_at_risk) "
        "SELECT quarter, coalesce(owner, ''), kind, status, count(*), coalesce(sum(value_at_risk), 0) "
        "FROM improvements WHERE merged_into_id IS NULL GROUP BY quarter, coalesce(owner, ''), kind, status"
    )


# SQLite ------------------------------------------------------------------------------------------


def _sqlite_upserts(row: str, sign: str) -> str:
    """Add (sign '+') or take away (sign '-') one item, ``NEW`` or ``OLD``, when it is live."""
    live = f"WHERE {row}.merged_into_id IS NULL"
    return f"""
    INSERT INTO rollup_by_kind ({KIND_KEY}, item_count, value_at_risk, customers_affected)
    SELECT {row}.quarter, {row}.kind, {row}.status, {row}.needs_review, {row}.currency,
           {sign}1, {sign}{row}.value_at_risk, {sign}{row}.customers_affected {live}
    ON CONFLICT ({KIND_KEY}) DO UPDATE SET
        item_count = item_count + excluded.item_count,
        value_at_risk = value_at_risk + excluded.value_at_risk,
        customers_affected = customers_affected + excluded.customers_affected;
    INSERT INTO rollup_by_owner ({OWNER_KEY}, item_count, value_at_risk)
    SELECT {row}.quarter, coalesce({row}.owner, ''), {row}.kind, {row}.status,
           {sign}1, {sign}{row}.value_at_risk {live}
    ON CONFLICT ({OWNER_KEY}) DO UPDATE SET
        item_count = item_count + excluded.item_count,
        value_at_risk = value_at_risk + excluded.value_at_risk;"""


def _sqlite_triggers() -> None:
    op.execute(
        f"CREATE TRIGGER improvements_rollup_insert AFTER INSERT ON improvements BEGIN {_sqlite_upserts('NEW', '+')} END"
    )
    op.execute(
        f"CREATE TRIGGER improvements_rollup_delete AFTER DELETE ON improvements BEGIN {_sqlite_upserts('OLD', '-')} END"
    )
    op.execute(
        f"CREATE TRIGGER improvements_rollup_update AFTER UPDATE OF {', '.join(ROLLED_UP)} ON improvements "
        f"BEGIN {_sqlite_upserts('OLD', '-')} {_sqlite_upserts('NEW', '+')} END"
    )


# PostgreSQL --------------------------------------------------------------------------------------


def _pg_delta(table: str, sign: str) -> str:
    return (
        f"SELECT quarter, kind, status, needs_review, currency, coalesce(owner, '') AS owner, {sign}1 AS n, "
        f"{sign}value_at_risk AS value_at_risk, {sign}customers_affected AS customers_affected "
        f"FROM {table} WHERE merged_into_id IS NULL"
    )


def _pg_update_delta() -> str:
    """Old rows out, new rows in, for the items whose rolled-up columns changed (title edits cost nothing)."""
    changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in ROLLED_UP)
    moved = f"SELECT id FROM old_rows o JOIN new_rows n USING (id) WHERE {changed}"
    return (
        f"{_pg_delta('old_rows', '-')} AND id IN ({moved}) UNION ALL {_pg_delta('new_rows', '+')} AND id IN ({moved})"
    )


def _pg_upserts(delta: str) -> str:
    return f"""
        INSERT INTO rollup_by_kind AS r ({KIND_KEY}, item_count, value_at_risk, customers_affected)
        SELECT {KIND_KEY}, sum(n), sum(value_at_risk), sum(customers_affected) FROM ({delta}) AS d
        GROUP BY {KIND_KEY}
        HAVING sum(n) <> 0 OR sum(value_at_risk) <> 0 OR sum(customers_affected) <> 0
        ORDER BY {KIND_KEY}
        ON CONFLICT ({KIND_KEY}) DO UPDATE SET
            item_count = r.item_count + excluded.item_count,
            value_at_risk = r.value_at_risk + excluded.value_at_risk,
            customers_affected = r.customers_affected + excluded.customers_affected;
        INSERT INTO rollup_by_owner AS r ({OWNER_KEY}, item_count, value_at_risk)
        SELECT {OWNER_KEY}, sum(n), sum(value_at_risk) FROM ({delta}) AS d
        GROUP BY {OWNER_KEY}
        HAVING sum(n) <> 0 OR sum(value_at_risk) <> 0
        ORDER BY {OWNER_KEY}
        ON CONFLICT ({OWNER_KEY}) DO UPDATE SET
            item_count = r.item_count + excluded.item_count,
            value_at_risk = r.value_at_risk + excluded.value_at_risk;"""


def _pg_triggers() -> None:
    # Upserts run in key order, so two transactions touching the same rollup rows lock them in the same order.
    op.execute(
        f"""
        CREATE FUNCTION improvements_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN {_pg_upserts(_pg_delta("new_rows", "+"))}
            ELSIF TG_OP = 'DELETE' THEN {_pg_upserts(_pg_delta("old_rows", "-"))}
            ELSIF TG_OP = 'UPDATE' THEN {_pg_upserts(_pg_update_delta())}
            END IF;
            RETURN NULL;
        END $$"""
    )
    references = {
        "INSERT": "NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }
    for event in EVENTS:
        op.execute(
            f"CREATE TRIGGER improvements_rollup_{event.lower()} AFTER {event} ON improvements "
            f"REFERENCING {references[event]} FOR EACH STATEMENT EXECUTE FUNCTION improvements_rollup()"
        )
    # TRUNCATE fires no row or delete triggers; it empties the items, so it empties the rollups.
    op.execute(
        """
        CREATE FUNCTION improvements_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM rollup_by_kind;
            DELETE FROM rollup_by_owner;
            RETURN NULL;
        END $$"""
    )
    op.execute(
        "CREATE TRIGGER improvements_rollup_truncate AFTER TRUNCATE ON improvements "
        "FOR EACH STATEMENT EXECUTE FUNCTION improvements_rollup_truncate()"
    )


def upgrade() -> None:
    _create_tables()
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        _pg_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in (*EVENTS, "TRUNCATE") if postgres else EVENTS:
        name = f"improvements_rollup_{event.lower()}"
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON improvements" if postgres else f"DROP TRIGGER IF EXISTS {name}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS improvements_rollup()")
        op.execute("DROP FUNCTION IF EXISTS improvements_rollup_truncate()")
    op.drop_table("rollup_by_owner")
    op.drop_table("rollup_by_kind")
