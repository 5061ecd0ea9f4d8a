"""Queries and writes behind the services. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, case, column, func, or_, select, text
from sqlalchemy.orm import Session, selectinload

from db.models import Change, Document, Improvement, KindRollup, OwnerRollup, Problem, SavedView
from improvement.models import ItemFilter

SORTS: dict[str, tuple[Any, ...]] = {
    "priority": (Improvement.priority.desc(), Improvement.id.desc()),
    "value_at_risk": (Improvement.value_at_risk.desc(), Improvement.id.desc()),
    "newest": (Improvement.created_at.desc(), Improvement.id.desc()),
    "oldest": (Improvement.created_at.asc(), Improvement.id.asc()),
    "confidence": (Improvement.confidence.asc(), Improvement.id.desc()),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_trigram_table(session: Session) -> bool:
    """Whether migration 0004 could create the FTS5 trigram table (not on an SQLite without it)."""
    key = session.get_bind().engine.url.render_as_string(hide_password=False)
    if key not in _TRIGRAM_TABLE:
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'improvements_text'")
        ).first()
        _TRIGRAM_TABLE[key] = found is not None
    return _TRIGRAM_TABLE[key]


_TRIGRAM_TABLE: dict[str, bool] = {}


def _text_match(needle: str, session: Session) -> ColumnElement[bool]:
    """Case-insensitive substring search in the title or description, served by an index (migration 0004).

    SQLite uses the FTS5 trigram table when it exists; PostgreSQL's pg_trgm indexes serve the LIKE below.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite and len(needle) >= 3 and _has_trigram_table(session):
        # The trigram FTS table matches a quoted phrase as a substring; it needs at least three characters.
        phrase = '"' + needle.replace('"', '""') + '"'
        matches = text("SELECT rowid FROM improvements_text WHERE improvements_text MATCH :phrase").bindparams(
            phrase=phrase
        )
        return Improvement.id.in_(matches.columns(column("rowid", Integer)))
    pattern = f"%{_escape_like(needle.lower())}%"
    return or_(
        func.lower(Improvement.title).like(pattern, escape="\\"),
        func.lower(Improvement.description).like(pattern, escape="\\"),
    )


_WORD = re.compile(r"\w+")
# The expression migration 0006 indexes on PostgreSQL; the query must use it exactly.
PG_WORDS = "to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || coalesce(description, ''))"


def _has_table(session: Session, name: str) -> bool:
    key = (session.get_bind().engine.url.render_as_string(hide_password=False), name)
    if key not in _TABLES:
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name").bindparams(name=name)
        ).first()
        _TABLES[key] = found is not None
    return _TABLES[key]


_TABLES: dict[tuple[str, str], bool] = {}


def _words_match(query: str, session: Session) -> ColumnElement[bool]:
    """Every word of ``query``, in any order, stemmed: full-text search (migration 0006).

    PostgreSQL: the English tsvector of title and description against ``plainto_tsquery``. SQLite: the
    FTS5 porter table, each word quoted so no character is read as query syntax; without FTS5, each
    word as a substring.
    """
    words = _WORD.findall(query.lower())
    if not words:
        return Improvement.id.is_(None)  # nothing searchable: no match rather than everything
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _pg_words_match(words, session)
    if dialect == "sqlite" and _has_table(session, "improvements_words"):
        expression = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        matches = text("SELECT rowid FROM improvements_words WHERE improvements_words MATCH :q").bindparams(
            q=expression
        )
        return Improvement.id.in_(matches.columns(column("rowid", Integer)))
    return and_(*(_text_match(w, session) for w in words))


def _pg_words_match(words: list[str], session: Session) -> ColumnElement[bool]:
    """English stems through the GIN index; a stop word ("out", "in") must then appear as itself.

    PostgreSQL's English configuration drops stop words, so "logs out" alone would also find "log in";
    SQLite's porter table keeps them. Checking stop words unstemmed on the indexed candidates keeps
    both databases answering alike.
    """
    sizes = session.execute(
        text(
            "SELECT w, numnode(plainto_tsquery('english'::regconfig, w)) FROM unnest(CAST(:words AS text[])) AS w"
        ).bindparams(words=words)
    ).all()
    content = [w for w, size in sizes if size > 0]
    stop = [w for w, size in sizes if size == 0]
    conditions: list[Any] = []  # text clauses, each a boolean condition
    if content:
        conditions.append(
            text(f"{PG_WORDS} @@ plainto_tsquery('english'::regconfig, :content)").bindparams(content=" ".join(content))
        )
    simple = PG_WORDS.replace("'english'", "'simple'")
    for n, word in enumerate(stop):
        conditions.append(
            text(f"{simple} @@ plainto_tsquery('simple'::regconfig, :stop_{n})").bindparams(**{f"stop_{n}": word})
        )
    return and_(*conditions)


def _by_kind_status_quarter(
    stmt: Select[Any], table: type[Improvement | KindRollup | OwnerRollup], flt: ItemFilter
) -> Select[Any]:
    """The filters the items and both rollup tables share, by the same column names."""
    if flt.kinds:
        stmt = stmt.where(table.kind.in_(list(flt.kinds)))
    if flt.statuses:
        stmt = stmt.where(table.status.in_(list(flt.statuses)))
    if flt.quarters:
        stmt = stmt.where(table.quarter.in_(list(flt.quarters)))
    return stmt


def _filtered(stmt: Select[Any], flt: ItemFilter, session: Session) -> Select[Any]:
    if not flt.include_merged:
        stmt = stmt.where(Improvement.merged_into_id.is_(None))
    stmt = _by_kind_status_quarter(stmt, Improvement, flt)
    if flt.owners:
        owners = [o for o in flt.owners if o]
        conditions = [Improvement.owner.in_(owners)] if owners else []
        if "" in flt.owners:
            conditions.append(Improvement.owner.is_(None))
        stmt = stmt.where(or_(*conditions))
    if flt.needs_review is not None:
        stmt = stmt.where(Improvement.needs_review.is_(flt.needs_review))
    if flt.ids:
        stmt = stmt.where(Improvement.id.in_(list(flt.ids)))
    if flt.untriaged_before is not None:  # still waiting for triage since before this moment
        stmt = stmt.where(Improvement.status == "new", Improvement.created_at < flt.untriaged_before)
    if flt.text:
        stmt = stmt.where(_text_match(flt.text, session))
    if flt.words:
        stmt = stmt.where(_words_match(flt.words, session))
    return stmt


def list_improvements(
    session: Session, flt: ItemFilter, *, sort: str = "priority", limit: int = 50, offset: int = 0
) -> list[Improvement]:
    stmt = _filtered(select(Improvement), flt, session).order_by(*SORTS[sort]).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_improvements(session: Session, flt: ItemFilter, *, limit: int | None = None) -> tuple[int, bool]:
    """How many items match, and whether that number is exact.

    Filters on kind, status, quarter, owner and the review flag are answered from the rollup tables:
    exact, and the same few rows whatever the backlog's size. Anything else (text, ids, merged items)
    counts the items; with ``limit`` that stops at limit + 1, so its cost stops growing too.
    """
    from_rollups = _count_from_rollups(session, flt)
    if from_rollups is not None:
        return from_rollups, True
    if limit is None:
        return int(session.scalar(_filtered(select(func.count(Improvement.id)), flt, session)) or 0), True
    capped = _filtered(select(Improvement.id), flt, session).limit(limit + 1).subquery()
    counted = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    return min(counted, limit), counted <= limit


def _count_from_rollups(session: Session, flt: ItemFilter) -> int | None:
    if (
        flt.text
        or flt.words
        or flt.ids
        or flt.include_merged
        or flt.untriaged_before is not None
        or (flt.owners and flt.needs_review is not None)
    ):
        return None
    table: type[KindRollup | OwnerRollup] = OwnerRollup if flt.owners else KindRollup
    stmt = _by_kind_status_quarter(select(func.coalesce(func.sum(table.item_count), 0)), table, flt)
    if flt.owners:
        stmt = stmt.where(OwnerRollup.owner.in_(list(flt.owners)))
    if flt.needs_review is not None:
        stmt = stmt.where(KindRollup.needs_review.is_(flt.needs_review))
    return int(session.scalar(stmt) or 0)


def get_improvement(session: Session, improvement_id: int, *, with_problems: bool = False) -> Improvement | None:
    if with_problems:
        stmt = select(Improvement).where(Improvement.id == improvement_id).options(selectinload(Improvement.problems))
        return session.scalars(stmt).first()
    return session.get(Improvement, improvement_id)


def get_problem(session: Session, problem_id: int) -> Problem | None:
    return session.get(Problem, problem_id)


def problems_by_ids(session: Session, ids: Iterable[int]) -> list[Problem]:
    ids = list(ids)
    if not ids:
        return []
    return list(session.scalars(select(Problem).where(Problem.id.in_(ids))))


def count_problems(session: Session) -> int:
    """Every logged problem (reports of merged items included): what the similar-problem index should hold."""
    return int(session.scalar(select(func.count()).select_from(Problem)) or 0)


def history(session: Session, improvement_id: int) -> list[Change]:
    stmt = select(Change).where(Change.improvement_id == improvement_id).order_by(Change.changed_at, Change.id)
    return list(session.scalars(stmt))


def distinct_values(session: Session, column: str) -> list[str]:
    """The owners or quarters that live items have, read from the owner rollup (a few hundred rows at most)."""
    col = getattr(OwnerRollup, column)
    stmt = select(col).where(OwnerRollup.item_count > 0).distinct().order_by(col)
    return [v for v in session.scalars(stmt) if v]


def group_counts(session: Session, *, by: Sequence[str], quarters: Sequence[str]) -> list[dict[str, Any]]:
    """Items, value at risk and customers grouped by ``by`` (columns of the kind rollup) in ``quarters``."""
    r = KindRollup
    cols = [getattr(r, name) for name in by]
    stmt = (
        select(*cols, func.sum(r.item_count), func.sum(r.value_at_risk), func.sum(r.customers_affected))
        .where(r.quarter.in_(list(quarters)))
        .group_by(*cols)
        .having(func.sum(r.item_count) > 0)
    )
    rows = []
    for row in session.execute(stmt):
        values = dict(zip(by, row[: len(by)], strict=True))
        values.update(
            count=int(row[len(by)]), value_at_risk=float(row[len(by) + 1]), customers_affected=int(row[len(by) + 2])
        )
        rows.append(values)
    return rows


def owner_counts(session: Session, *, quarter: str, limit: int = 15) -> list[dict[str, Any]]:
    r = OwnerRollup
    items = func.sum(r.item_count)
    done = func.sum(case((r.status == "done", r.item_count), else_=0))
    stmt = (
        select(r.owner, items, done, func.sum(r.value_at_risk))
        .where(r.quarter == quarter)
        .group_by(r.owner)
        .having(items > 0)
        .order_by(items.desc(), r.owner)
        .limit(limit)
    )
    return [
        {"owner": owner or "(unassigned)", "items": int(n), "done": int(d or 0), "value_at_risk": round(float(v), 2)}
        for owner, n, d, v in session.execute(stmt)
    ]


# Knowledge base documents -------------------------------------------------------------------------


def get_document_by_source(session: Session, source: str) -> Document | None:
    return session.scalars(select(Document).where(Document.source == source)).first()


def list_documents(session: Session) -> list[Document]:
    return list(session.scalars(select(Document).order_by(Document.starter.desc(), Document.title)))


def count_documents(session: Session) -> int:
    return int(session.scalar(select(func.count(Document.id))) or 0)


def knowledge_generation(session: Session) -> tuple[Any, ...]:
    """A cheap fingerprint of the knowledge base: it changes whenever any process adds, replaces or
    removes a document (count, newest id, newest ingest time, chunks)."""
    row = session.execute(
        select(
            func.count(Document.id),
            func.max(Document.id),
            func.max(Document.ingested_at),
            func.coalesce(func.sum(Document.chunk_count), 0),
        )
    ).one()
    return tuple(row)


def merged_into(session: Session, improvement_id: int) -> list[Improvement]:
    """The items merged into this one (each can be split back out)."""
    stmt = select(Improvement).where(Improvement.merged_into_id == improvement_id).order_by(Improvement.id)
    return list(session.scalars(stmt))


def saved_views(session: Session) -> list[SavedView]:
    return list(session.scalars(select(SavedView).order_by(SavedView.name)))


def saved_view_by_name(session: Session, name: str) -> SavedView | None:
    return session.scalars(select(SavedView).where(SavedView.name == name)).first()
