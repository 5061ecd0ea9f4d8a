"""Queries and writes for the leaders' portfolio view: target mixes, priority weights, the quarter's
breakdown by kind, status, owner and currency, done items by the date they were done, gap candidates.

Like ``db.repository``, nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from db.models import Improvement, PriorityWeight, QuarterTarget
from improvement.prioritisation import ItemInputs, Weights, score


def get_target(session: Session, quarter: str) -> QuarterTarget | None:
    return session.get(QuarterTarget, quarter)


def set_target(
    session: Session, quarter: str, basis: str, shares: dict[str, int], *, actor: str, now: datetime
) -> QuarterTarget:
    row = session.get(QuarterTarget, quarter)
    if row is None:
        row = QuarterTarget(quarter=quarter)
        session.add(row)
    row.basis = basis
    row.kaizen, row.kaikaku, row.kakushin = shares["kaizen"], shares["kaikaku"], shares["kakushin"]
    row.set_by = actor
    row.set_at = now
    return row


def load_weights(session: Session) -> Weights:
    by_kind: dict[str, dict[str, float]] = {}
    for row in session.scalars(select(PriorityWeight)):
        by_kind.setdefault(row.kind, {})[row.name] = float(row.weight)
    return Weights(by_kind=by_kind)


def set_weights(session: Session, kind: str, weights: dict[str, float], *, actor: str, now: datetime) -> None:
    for name, weight in weights.items():
        row = session.get(PriorityWeight, (kind, name))
        if row is None:
            row = PriorityWeight(kind=kind, name=name)
            session.add(row)
        row.weight = weight
        row.set_by = actor
        row.set_at = now


def inputs_of(item: Improvement) -> ItemInputs:
    return ItemInputs(
        kind=item.kind,
        value_at_risk=float(item.value_at_risk or 0),
        customers_affected=int(item.customers_affected or 0),
        effort=int(item.effort or 3),
        impact=int(item.impact or 3),
        urgency=item.urgency,
        risk_reduction=item.risk_reduction,
        reach=item.reach,
        rice_confidence=item.rice_confidence,
    )


def rescore(session: Session, kind: str, weights: Weights, *, batch: int = 5000) -> int:
    """Recompute the priority of every live item of ``kind`` under ``weights``; returns how many."""
    i = Improvement
    stmt = select(
        i.id,
        i.kind,
        i.value_at_risk,
        i.customers_affected,
        i.effort,
        i.impact,
        i.urgency,
        i.risk_reduction,
        i.reach,
        i.rice_confidence,
        i.priority,
    ).where(i.merged_into_id.is_(None), i.kind == kind)
    updates: list[dict[str, Any]] = []
    count = 0
    table = Improvement.__table__
    assert isinstance(table, Table)

    statement = update(table).where(table.c.id == bindparam("item_id")).values(priority=bindparam("new_priority"))
    for row in session.execute(stmt).all():
        new = score(
            ItemInputs(
                kind=row.kind,
                value_at_risk=float(row.value_at_risk or 0),
                customers_affected=int(row.customers_affected or 0),
                effort=int(row.effort or 3),
                impact=int(row.impact or 3),
                urgency=row.urgency,
                risk_reduction=row.risk_reduction,
                reach=row.reach,
                rice_confidence=row.rice_confidence,
            ),
            weights,
        ).value
        count += 1
        if new != row.priority:
            updates.append({"item_id": row.id, "new_priority": new})
        if len(updates) >= batch:
            session.connection().execute(statement, updates)
            updates = []
    if updates:
        session.connection().execute(statement, updates)
    return count


def quarter_breakdown(session: Session, quarter: str) -> list[dict[str, Any]]:
    """The quarter's live items grouped by kind, status, owner and currency: items, effort, value at risk."""
    i = Improvement
    owner = func.coalesce(i.owner, "")
    stmt = (
        select(
            i.kind,
            i.status,
            owner,
            i.currency,
            func.count(),
            func.coalesce(func.sum(i.effort), 0),
            func.coalesce(func.sum(i.value_at_risk), 0),
        )
        .where(i.merged_into_id.is_(None), i.quarter == quarter)
        .group_by(i.kind, i.status, owner, i.currency)
    )
    return [
        {
            "kind": kind,
            "status": status,
            "owner": who,
            "currency": currency,
            "count": int(n),
            "effort": int(effort),
            "value_at_risk": float(value),
        }
        for kind, status, who, currency, n, effort, value in session.execute(stmt)
    ]


def done_between(session: Session, start: datetime, end: datetime) -> list[Improvement]:
    """Live items marked done in [start, end), most recent first: credited to the quarter they were done in."""
    i = Improvement
    stmt = (
        select(i)
        .where(i.merged_into_id.is_(None), i.status == "done", i.done_at >= start, i.done_at < end)
        .order_by(i.done_at.desc(), i.id.desc())
    )
    return list(session.scalars(stmt))


def open_candidates(session: Session, quarter: str, kind: str, *, limit: int) -> list[Improvement]:
    """The quarter's highest-priority items of ``kind`` not yet planned (new or triaged)."""
    i = Improvement
    stmt = (
        select(i)
        .where(i.merged_into_id.is_(None), i.quarter == quarter, i.kind == kind, i.status.in_(["new", "triaged"]))
        .order_by(i.priority.desc(), i.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def quarter_items(session: Session, quarter: str, start: datetime, end: datetime) -> Iterator[Improvement]:
    """The quarter's live items and the items done in it (planned for another quarter), by id, streamed."""
    i = Improvement
    done_here = and_(i.status == "done", i.done_at >= start, i.done_at < end)
    stmt = (
        select(i)
        .where(i.merged_into_id.is_(None), or_(i.quarter == quarter, done_here))
        .order_by(i.id)
        .execution_options(yield_per=2000)
    )
    yield from session.scalars(stmt)
