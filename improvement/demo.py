"""Realistic demo data: many industries, all three kinds, statuses, owners, money at risk, eight quarters.

Problems are drawn from the labelled example set and given a customer story, a touchpoint, a segment,
a value at risk and an age; older items are further along. Rows go in with bulk inserts in batches,
so 100,000 items take seconds, not minutes. Demo items say in their rationale that they are demo data.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from db.models import Change, Improvement, Problem
from improvement import domain
from improvement.classification import load_examples
from improvement.domain import DecidedBy
from improvement.items import DEFAULT_REVIEW_THRESHOLD, KindDecision, new_item_values

OWNERS = [
    "Amara Okafor",
    "Ben Fischer",
    "Chen Wei",
    "Dana Levi",
    "Elif Yilmaz",
    "Farah Haddad",
    "Gustavo Lima",
    "Hana Sato",
    "Isaac Mensah",
    "Julia Novak",
    "Kofi Asante",
    "Lena Berg",
    "Marco Rossi",
    "Nadia Petrova",
    "Omar Farouk",
    "Priya Nair",
    "Quinn Murphy",
    "Rosa Jimenez",
]
SEGMENTS = [
    "consumers",
    "families",
    "seniors",
    "students",
    "small businesses",
    "enterprise accounts",
    "first-time customers",
    "loyal members",
    "premium customers",
]
NAMES = ["Suzie", "Tom", "Mrs Patel", "Mr Alvarez", "Jonas", "Aiko", "the Dubois family", "Grace", "Mehmet", "Lucia"]
STORY = [
    "{name} called us three times about this before anyone could help.",
    "{name} missed an important day because of it and told five friends.",
    "{name} had been a customer for eleven years and left last month over this.",
    "{name} spent a lunch break on hold and still has no answer.",
    "{name} only found out when it was too late to do anything about it.",
]
ROOT = [
    "Nobody owns the step between the two teams.",
    "The system sends the message before the data is updated.",
    "Targets reward speed over resolution.",
    "The process was designed for paper and never revisited.",
    "Customers need something we have never offered.",
    "",
]
TARGETS = [
    "Cut repeat contacts on this topic by half within a quarter.",
    "Nine in ten affected customers told before they notice.",
    "Lead time under five working days.",
    "Pilot with 200 customers, decide on roll-out at the next review.",
]
OUTCOMES = [
    "Repeat calls on this topic fell by 46% in eight weeks.",
    "Complaints down from 120 to 15 a month.",
    "Lead time now 4 days instead of 21.",
    "Pilot customers renewed at 94% against 81% before.",
]
STATUS_BY_AGE = [  # quarters ago -> weighted statuses
    {"new": 40, "triaged": 25, "planned": 15, "in_progress": 15, "done": 3, "dropped": 2},
    {"new": 15, "triaged": 20, "planned": 20, "in_progress": 25, "done": 15, "dropped": 5},
    {"new": 5, "triaged": 10, "planned": 15, "in_progress": 25, "done": 38, "dropped": 7},
]


def _status(rng: random.Random, quarters_ago: int) -> str:
    weights = STATUS_BY_AGE[min(quarters_ago, len(STATUS_BY_AGE) - 1)]
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def seed_demo(
    session_factory: sessionmaker[Session],
    *,
    count: int,
    seed: int = 2026,
    now: datetime | None = None,
    batch: int = 5000,
) -> dict[str, int]:
    if not 1 <= count <= 1_000_000:
        raise domain.DomainError("count must be from 1 to 1,000,000", field="count")
    rng = random.Random(seed)
    examples = load_examples()
    now = now or datetime.now(UTC)
    with session_factory() as session:
        start_id = int(session.scalar(select(func.coalesce(func.max(Improvement.id), 0))) or 0)
        start_problem = int(session.scalar(select(func.coalesce(func.max(Problem.id), 0))) or 0)
    written = 0
    while written < count:
        size = min(batch, count - written)
        items: list[dict[str, Any]] = []
        problems: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for offset in range(size):
            item_id = start_id + written + offset + 1
            example = rng.choice(examples)
            days_ago = rng.randint(0, 8 * 91 - 1)
            created = now - timedelta(days=days_ago, minutes=rng.randint(0, 1439))
            quarters_ago = days_ago // 91
            status = _status(rng, quarters_ago)
            value = round(rng.lognormvariate(9.2 if example.kind != "kaizen" else 8.0, 1.3), -1)
            customers = int(rng.lognormvariate(4.5, 1.5))
            effort = {"kaizen": rng.randint(1, 2), "kaikaku": rng.randint(3, 5), "kakushin": rng.randint(3, 5)}[
                example.kind
            ]
            impact = rng.randint(2, 5)
            # The priority inputs come from the id, not the generator, so earlier demo data stays as it was.
            urgency = 1 + item_id * 7 % 5 if example.kind == "kaikaku" else None
            risk_reduction = 1 + item_id * 3 % 5 if example.kind == "kaikaku" else None
            rice_confidence = (20, 50, 80)[item_id % 3] if example.kind == "kakushin" else None
            confidence = round(rng.uniform(0.55, 0.999), 3)
            title = example.text.split(",")[0].split(";")[0][:90].rstrip(".")
            if len(title) < 25:  # customers' own words often open with "hi," or "three things:"
                title = example.text[:90].rsplit(" ", 1)[0] if len(example.text) > 90 else example.text
            decision = KindDecision(
                kind=example.kind,
                decided_by=DecidedBy.MODEL,
                decided_by_name="demo",
                classifier="demo",
                confidence=confidence,
                rationale="Demo data: the kind comes from the labelled example this item was drawn from.",
                needs_review=confidence < DEFAULT_REVIEW_THRESHOLD and status in ("new", "triaged"),
            )
            items.append(
                {
                    "id": item_id,
                    **new_item_values(
                        title=title,
                        description=example.text,
                        decision=decision,
                        created_at=created,
                        value_at_risk=value,
                        customers_affected=customers,
                        owner=None if status == "new" and rng.random() < 0.7 else rng.choice(OWNERS),
                        status=status,
                        effort=effort,
                        impact=impact,
                        # (in this order: the demo draws from one seeded generator, so a seed gives the same data)
                        target=rng.choice(TARGETS) if status not in ("new", "dropped") else "",
                        outcome=rng.choice(OUTCOMES) if status == "done" else "",
                        done_at=min(now, created + timedelta(days=rng.randint(7, 80))) if status == "done" else None,
                        urgency=urgency,
                        risk_reduction=risk_reduction,
                        rice_confidence=rice_confidence,
                    ),
                }
            )
            problems.append(
                {
                    "id": start_problem + written + offset + 1,
                    "improvement_id": item_id,
                    "title": title,
                    "description": example.text,
                    "customer_story": rng.choice(STORY).format(name=rng.choice(NAMES)),
                    "touchpoint": example.touchpoint,
                    "segment": rng.choice(SEGMENTS),
                    "industry": example.industry,
                    "customers_affected": customers,
                    "value_at_risk": value,
                    "currency": "EUR",
                    "evidence": rng.choice(["verified", "assumption", "unknown"]),
                    "root_cause": rng.choice(ROOT),
                    "reporter": rng.choice(OWNERS),
                    "created_at": created,
                }
            )
            changes.append(
                {
                    "improvement_id": item_id,
                    "changed_at": created,
                    "changed_by": "seed-demo",
                    "field": "created",
                    "old_value": None,
                    "new_value": f"{example.kind.value} (demo)",
                }
            )
        with session_factory.begin() as session:
            for model, rows in ((Improvement, items), (Problem, problems), (Change, changes)):
                _bulk_insert(session, model, rows)
        written += size
    _fix_sequences(session_factory)
    _refresh_statistics(session_factory)
    return {"items": written}


def _bulk_insert(session: Session, model: type[Improvement | Problem | Change], rows: list[dict[str, Any]]) -> None:
    """Many rows at once: PostgreSQL's COPY (several times faster than INSERT there), else executemany."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), rows)
        return
    columns = list(rows[0])
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _refresh_statistics(session_factory: sessionmaker[Session]) -> None:
    """After a bulk load, let the query planner see the new distribution (it picks the indexes from it).

    On PostgreSQL, VACUUM also sets the visibility map, without which the covering indexes of the review
    cannot be read index-only; it must run outside a transaction.
    """
    engine = session_factory.kw["bind"]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE improvements, problems, changes"))
        return
    with session_factory.begin() as session:
        session.execute(text("ANALYZE"))


def _fix_sequences(session_factory: sessionmaker[Session]) -> None:
    """Explicit ids bypass PostgreSQL sequences; move them past the rows we wrote."""
    with session_factory.begin() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        for table in ("improvements", "problems", "changes"):
            session.execute(
                select(
                    func.setval(
                        func.pg_get_serial_sequence(table, "id"),
                        select(
                            func.coalesce(
                                func.max(
                                    Improvement.id
                                    if table == "improvements"
                                    else Problem.id
                                    if table == "problems"
                                    else Change.id
                                ),
                                1,
                            )
                        ).scalar_subquery(),
                    )
                )
            )
