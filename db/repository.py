"""Queries and writes behind the services. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from db.models import Change, Document, Improvement, Problem
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


def _filtered(stmt: Select[Any], flt: ItemFilter) -> Select[Any]:
    if not flt.include_merged:
        stmt = stmt.where(Improvement.merged_into_id.is_(None))
    if flt.kinds:
        stmt = stmt.where(Improvement.kind.in_(list(flt.kinds)))
    if flt.statuses:
        stmt = stmt.where(Improvement.status.in_(list(flt.statuses)))
    if flt.quarters:
        stmt = stmt.where(Improvement.quarter.in_(list(flt.quarters)))
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
    if flt.text:
        pattern = f"%{_escape_like(flt.text.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(Improvement.title).like(pattern, escape="\\"),
                func.lower(Improvement.description).like(pattern, escape="\\"),
            )
        )
    return stmt


def list_improvements(
    session: Session, flt: ItemFilter, *, sort: str = "priority", limit: int = 50, offset: int = 0
) -> list[Improvement]:
    stmt = _filtered(select(Improvement), flt).order_by(*SORTS[sort]).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_improvements(session: Session, flt: ItemFilter, *, limit: int | None = None) -> int:
    """Matching items; with ``limit``, counting stops at limit + 1 so the cost stays flat as the table grows."""
    if limit is None:
        return int(session.scalar(_filtered(select(func.count(Improvement.id)), flt)) or 0)
    capped = _filtered(select(Improvement.id), flt).limit(limit + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


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


def history(session: Session, improvement_id: int) -> list[Change]:
    stmt = select(Change).where(Change.improvement_id == improvement_id).order_by(Change.changed_at, Change.id)
    return list(session.scalars(stmt))


def distinct_values(session: Session, column: str) -> list[str]:
    col = getattr(Improvement, column)
    stmt = select(col).where(col.is_not(None), Improvement.merged_into_id.is_(None)).distinct().order_by(col)
    return [v for v in session.scalars(stmt) if v]


def group_counts(session: Session, *, by: Sequence[str], quarters: Sequence[str]) -> list[dict[str, Any]]:
    """COUNT, SUM(value at risk) and SUM(customers) grouped in SQL over the indexed columns."""
    cols = [getattr(Improvement, name) for name in by]
    stmt = (
        select(
            *cols,
            func.count(Improvement.id),
            func.coalesce(func.sum(Improvement.value_at_risk), 0),
            func.coalesce(func.sum(Improvement.customers_affected), 0),
        )
        .where(Improvement.merged_into_id.is_(None), Improvement.quarter.in_(list(quarters)))
        .group_by(*cols)
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
    done = func.sum(case((Improvement.status == "done", 1), else_=0))
    stmt = (
        select(
            Improvement.owner, func.count(Improvement.id), done, func.coalesce(func.sum(Improvement.value_at_risk), 0)
        )
        .where(Improvement.merged_into_id.is_(None), Improvement.quarter == quarter)
        .group_by(Improvement.owner)
        .order_by(func.count(Improvement.id).desc())
        .limit(limit)
    )
    return [
        {"owner": owner or "(unassigned)", "items": int(n), "done": int(d or 0), "value_at_risk": float(v)}
        for owner, n, d, v in session.execute(stmt)
    ]


def currencies(session: Session, *, quarters: Sequence[str]) -> list[str]:
    stmt = (
        select(Improvement.currency)
        .where(Improvement.quarter.in_(list(quarters)), Improvement.merged_into_id.is_(None))
        .distinct()
    )
    return sorted(c for c in session.scalars(stmt) if c)


# Knowledge base documents -------------------------------------------------------------------------


def get_document_by_source(session: Session, source: str) -> Document | None:
    return session.scalars(select(Document).where(Document.source == source)).first()


def list_documents(session: Session) -> list[Document]:
    return list(session.scalars(select(Document).order_by(Document.starter.desc(), Document.title)))


def count_documents(session: Session) -> int:
    return int(session.scalar(select(func.count(Document.id))) or 0)
