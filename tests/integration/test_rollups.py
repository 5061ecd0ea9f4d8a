"""The rollup tables stay equal to a GROUP BY over the items, whoever writes: services, imports, bulk loads, SQL."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from db import rollups
from db.engine import make_engine, make_session_factory, upgrade
from db.models import Improvement
from improvement.demo import seed_demo
from improvement.models import ItemFilter
from improvement.review import quarterly_review
from improvement.services import BacklogService
from improvement.transfer import import_rows

TEXTS = [
    "Receipts miss the store phone number",
    "Refunds pass through four teams and take a month",
    "Commuters want to pay only for the days they travel",
    "The tracking page says in transit for a week",
    "Patients want blood tests at home instead of a day off work",
    "Invoices miss the purchase order number",
]


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def assert_rollups_agree(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        report = rollups.check(session)
    assert report["ok"], report


def test_every_kind_of_write_keeps_the_rollups_equal_to_the_items(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    ids: list[int] = []
    for n in range(12):
        logged = service.log_problem(
            {
                "description": rng.choice(TEXTS),
                "quarter": rng.choice(["2026-Q3", "2026-Q4"]),
                "value_at_risk": str(rng.randint(0, 5000)) + ".35",
                "customers_affected": str(rng.randint(0, 40)),
                "owner": rng.choice(["", "Kim", "Lee"]),
            },
            actor=f"agent{n}",
        )
        ids.append(logged.improvement_id)
    assert_rollups_agree(sessions)

    def version(item_id: int) -> int:
        return service.get_item(item_id).item.version

    service.edit_item(ids[0], {"owner": "Noor", "quarter": "2027-Q1"}, actor="x", expected_version=version(ids[0]))
    service.edit_item(ids[1], {"title": "Only the title changes"}, actor="x", expected_version=version(ids[1]))
    service.change_status(ids[2], "planned", actor="x")
    service.override_kind(ids[3], "kakushin", actor="lead", expected_version=version(ids[3]))
    service.merge(ids[4], [ids[5], ids[6]], actor="lead")
    service.bulk_change(ids[7:10], actor="lead", status="triaged", owner="Kim")
    assert_rollups_agree(sessions)

    import_rows(
        service,
        sessions,
        [{"description": "The chat widget's wait estimate is always two minutes", "value_at_risk": "12.5"}] * 3,
        actor="importer",
    )
    seed_demo(sessions, count=200, seed=3)
    assert_rollups_agree(sessions)

    with sessions.begin() as session:  # someone at a SQL console
        session.execute(
            text("UPDATE improvements SET value_at_risk = value_at_risk + 1, status = 'dropped' WHERE id % 7 = 0")
        )
        session.execute(text("UPDATE improvements SET merged_into_id = 1 WHERE id IN (40, 41)"))
        session.execute(text("DELETE FROM changes WHERE improvement_id IN (42, 43)"))
        session.execute(text("DELETE FROM problems WHERE improvement_id IN (42, 43)"))
        session.execute(text("DELETE FROM improvements WHERE id IN (42, 43)"))
    assert_rollups_agree(sessions)


def test_review_and_page_totals_match_counting_the_items(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    seed_demo(sessions, count=400, seed=11)
    with sessions() as session:
        quarter = session.scalar(select(func.max(Improvement.quarter)))
        live = Improvement.merged_into_id.is_(None)
        by_kind = dict(
            session.execute(
                select(Improvement.kind, func.count())
                .where(live, Improvement.quarter == quarter)
                .group_by(Improvement.kind)
            ).all()
        )
        value = session.scalar(select(func.sum(Improvement.value_at_risk)).where(live, Improvement.quarter == quarter))
        owned_by_kim = session.scalar(
            select(func.count()).where(live, Improvement.owner == "Amara Okafor", Improvement.status == "planned")
        )
    review = quarterly_review(sessions, quarter)
    assert review.counts_by_kind == {k: by_kind.get(k, 0) for k in ("kaizen", "kaikaku", "kakushin")}
    assert review.value_at_risk_total == pytest.approx(float(value), abs=0.01)
    assert sum(o["items"] for o in review.owners) <= review.total_items

    page = service.list_items(ItemFilter(owners=["Amara Okafor"], statuses=["planned"]), count_limit=5)
    assert (page.total, page.total_is_exact) == (owned_by_kim, True)
    everything = service.list_items(ItemFilter(), count_limit=5)
    assert (everything.total, everything.total_is_exact) == (400, True)


def test_drift_is_found_and_rebuilt(sessions) -> None:  # type: ignore[no-untyped-def]
    seed_demo(sessions, count=50, seed=5)
    with sessions.begin() as session:
        session.execute(text("UPDATE rollup_by_kind SET item_count = item_count + 3"))
        session.execute(text("DELETE FROM rollup_by_owner WHERE owner = ''"))
    with sessions() as session:
        report = rollups.check(session)
    assert not report["ok"] and report["kind_rows_wrong"] > 0 and report["owner_rows_wrong"] > 0
    with sessions.begin() as session:
        rollups.rebuild(session)
    assert_rollups_agree(sessions)


def test_every_trigger_exists_after_upgrading(sessions) -> None:  # type: ignore[no-untyped-def]
    """A later migration that rebuilds ``improvements`` (SQLite batch mode) would silently drop them."""
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            names = set(
                session.scalars(
                    text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'improvements'::regclass AND NOT tgisinternal")
                )
            )
            expected = {f"improvements_rollup_{e}" for e in ("insert", "update", "delete", "truncate")}
        else:
            names = set(session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            tables = ("rollup", "text", "words")
            expected = {f"improvements_{t}_{e}" for t in tables for e in ("insert", "update", "delete")}
    assert names == expected


@pytest.fixture
def postgres_sessions(postgres_database: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(postgres_database)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        session.execute(text("TRUNCATE changes, problems, improvements RESTART IDENTITY CASCADE"))
    yield factory
    engine.dispose()


@pytest.mark.postgres  # SQLite has one writer at a time: writers queue there instead of deadlocking
def test_two_writers_deadlocking_on_rollup_rows_both_succeed(postgres_sessions, offline_classifier) -> None:  # type: ignore[no-untyped-def]
    """Writer 1 touches kind A then B, writer 2 kind B then A: PostgreSQL aborts one; it runs again."""
    from db.transactions import run_in_transaction

    sessions = postgres_sessions
    service = BacklogService(sessions, classifier_provider=lambda: offline_classifier)
    kaizen = [log_kind(service, "kaizen") for _ in range(2)]
    kaikaku = [log_kind(service, "kaikaku") for _ in range(2)]
    barrier = threading.Barrier(2)
    attempts: Counter[str] = Counter()
    errors: list[BaseException] = []

    def writer(name: str, first: int, second: int) -> None:
        def work(session) -> None:  # type: ignore[no-untyped-def]
            attempts[name] += 1
            session.execute(
                update(Improvement).where(Improvement.id == first).values(value_at_risk=Improvement.value_at_risk + 1)
            )
            if attempts[name] == 1:
                barrier.wait(timeout=20)  # both now hold one rollup row and want the other's
            session.execute(
                update(Improvement).where(Improvement.id == second).values(value_at_risk=Improvement.value_at_risk + 1)
            )

        try:
            run_in_transaction(sessions, work)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [
        threading.Thread(target=writer, args=("one", kaizen[0], kaikaku[0])),
        threading.Thread(target=writer, args=("two", kaikaku[1], kaizen[1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(attempts.values()) == [1, 2]  # one was aborted as the deadlock's victim and ran again
    with sessions() as session:
        values = session.scalars(select(Improvement.value_at_risk).where(Improvement.id.in_(kaizen + kaikaku))).all()
    assert sorted(values) == [1.0, 1.0, 1.0, 1.0]
    assert_rollups_agree(sessions)


def log_kind(service: BacklogService, kind: str) -> int:
    return service.log_problem({"description": f"A {kind} problem", "kind": kind}, actor="t").improvement_id


def test_the_migrations_build_exactly_the_schema_the_models_describe(sessions) -> None:  # type: ignore[no-untyped-def]
    """Alembic's autogenerate finds nothing to add or drop (a model changed without a migration fails here)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from db.models import Base

    def ours(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
        # Objects only the migrations know: SQLite's FTS tables, PostgreSQL's pg_trgm expression indexes.
        if type_ == "table" and reflected and compare_to is None:
            return not str(name).startswith(("improvements_text", "improvements_words")) and name != "alembic_version"
        return not (type_ == "index" and (str(name).endswith("_trgm") or name == "ix_improvements_words"))

    with sessions() as session:
        context = MigrationContext.configure(session.connection(), opts={"include_object": ours})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
