"""The backlog services on a real database: SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from improvement.domain import InvalidTransition, StaleEdit
from improvement.models import ItemFilter
from improvement.review import quarterly_review
from improvement.services import BacklogService
from improvement.validation import ValidationFailed


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def log(service: BacklogService, text: str, **extra: object):  # type: ignore[no-untyped-def]
    return service.log_problem({"description": text, "quarter": "2026-Q4", **extra}, actor="ana")


def test_logging_classifies_saves_and_records_history(service: BacklogService) -> None:
    result = log(
        service,
        "Refunds pass through store, warehouse, e-commerce and finance teams and take 30 days",
        value_at_risk="25000",
        customers_affected="340",
        evidence="verified",
        customer_story="Mrs Patel waited a month for her money.",
    )
    assert result.kind == "kaikaku"
    detail = service.get_item(result.improvement_id)
    assert detail.item.value_at_risk == 25000.0
    assert detail.item.customers_affected == 340
    assert detail.problems[0].customer_story == "Mrs Patel waited a month for her money."
    assert detail.item.kind_decided_by == "model"
    assert [c.field for c in detail.history] == ["created"]


def test_a_person_deciding_the_kind_wins_and_is_recorded(service: BacklogService) -> None:
    result = log(service, "The welcome email links to a deleted help page")
    item = service.override_kind(result.improvement_id, "kakushin", actor="leader", expected_version=1)
    assert (item.kind, item.kind_decided_by, item.kind_decided_by_name) == ("kakushin", "person", "leader")
    history = service.get_item(result.improvement_id).history
    assert any(c.field == "kind" and c.new_value == "kakushin" and c.changed_by == "leader" for c in history)


def test_status_moves_follow_the_rules_and_done_needs_an_outcome(service: BacklogService) -> None:
    item_id = log(service, "Our SMS reminder arrives after the appointment").improvement_id
    with pytest.raises(InvalidTransition):
        service.change_status(item_id, "done", actor="ana")
    service.change_status(item_id, "planned", actor="ana")
    service.change_status(item_id, "in_progress", actor="ana")
    with pytest.raises(ValidationFailed, match="outcome"):
        service.change_status(item_id, "done", actor="ana")
    item = service.change_status(item_id, "done", actor="ana", outcome="Reminders now go out 48 h ahead")
    assert item.status == "done"
    fields = [c.field for c in service.get_item(item_id).history]
    assert fields.count("status") == 3 and "outcome" in fields


def test_a_stale_edit_is_refused_and_loses_nothing(service: BacklogService) -> None:
    item_id = log(service, "The tracking page shows in transit for a week").improvement_id
    service.edit_item(item_id, {"owner": "Ben"}, actor="ben", expected_version=1)
    with pytest.raises(StaleEdit, match="changed by someone else"):
        service.edit_item(item_id, {"owner": "Cara"}, actor="cara", expected_version=1)
    assert service.get_item(item_id).item.owner == "Ben"


def test_concurrent_edits_never_silently_overwrite(service: BacklogService) -> None:
    item_id = log(service, "Invoices miss the purchase order number").improvement_id
    outcomes: list[str] = []

    def edit(owner: str) -> None:
        try:
            service.edit_item(item_id, {"owner": owner}, actor=owner, expected_version=1)
            outcomes.append("saved")
        except StaleEdit:
            outcomes.append("stale")

    threads = [threading.Thread(target=edit, args=(f"owner{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("saved") == 1 and outcomes.count("stale") == 3
    detail = service.get_item(item_id)
    owner_changes = [c for c in detail.history if c.field == "owner"]
    assert len(owner_changes) == 1 and owner_changes[0].new_value == detail.item.owner


def test_merge_keeps_every_report_and_sums_the_money(service: BacklogService) -> None:
    a = log(service, "Parcel cards don't say which depot has the parcel", value_at_risk="1000", customers_affected="5")
    b = log(service, "Missed-delivery card has no depot address", value_at_risk="500", customers_affected="3")
    merged = service.merge(a.improvement_id, [b.improvement_id], actor="lead")
    assert merged.report_count == 2 and merged.value_at_risk == 1500.0 and merged.customers_affected == 8
    page = service.list_items(ItemFilter())
    assert [i.id for i in page.items] == [a.improvement_id]
    assert {p.id for p in service.get_item(a.improvement_id).problems} == {a.problem_id, b.problem_id}


def test_list_filters_search_and_sorts(service: BacklogService) -> None:
    log(service, "Gate changes are not pushed to the app", value_at_risk="100", owner="Kim")
    log(service, "Mortgage approval passes through five departments over eight weeks", value_at_risk="90000")
    log(service, "Patients want blood tests at home instead of half a day off", value_at_risk="5000", quarter="2026-Q3")
    assert service.list_items(ItemFilter(quarters=["2026-Q4"])).total == 2
    assert [i.title[:4] for i in service.list_items(ItemFilter(), sort="value_at_risk").items] == [
        "Mort",
        "Pati",
        "Gate",
    ]
    assert service.list_items(ItemFilter(owners=["Kim"])).total == 1
    assert service.list_items(ItemFilter(text="APPROVAL")).total == 1
    assert service.list_items(ItemFilter(text="100%_")).total == 0  # LIKE wildcards are escaped
    assert service.list_items(ItemFilter(kinds=["kaikaku"])).items[0].title.startswith("Mortgage")


def test_counting_stops_at_the_limit_and_says_so(service: BacklogService) -> None:
    for text in ("Receipts miss the phone number", "Bills hide the pro-rata charge", "Gate changes are not pushed"):
        log(service, text)
    # A text search counts matching items, and stops counting past the limit.
    capped = service.list_items(ItemFilter(text="e"), limit=1, count_limit=2)
    assert (capped.total, capped.total_is_exact, len(capped.items)) == (2, False, 1)
    exact = service.list_items(ItemFilter(text="e"), limit=1, count_limit=3)
    assert (exact.total, exact.total_is_exact) == (3, True)
    assert service.list_items(ItemFilter(text="e"), count_limit=None).total == 3
    # Filters the rollups answer are exact whatever the limit.
    assert (service.list_items(ItemFilter(), count_limit=2).total_is_exact, service.list_items(ItemFilter()).total) == (
        True,
        3,
    )


def test_quarterly_review_aggregates_in_sql(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    log(service, "The bill does not explain the pro-rata charge", value_at_risk="1000")
    log(service, "Connecting a new house takes four months across four companies", value_at_risk="30000")
    log(service, "Commuters want to pay only for the days they travel", value_at_risk="7000")
    log(service, "The app logs people out mid-transfer", value_at_risk="200", quarter="2026-Q3")
    review = quarterly_review(sessions, "2026-Q4")
    assert review.total_items == 3
    assert review.counts_by_kind == {"kaizen": 1, "kaikaku": 1, "kakushin": 1}
    assert review.value_at_risk_by_kind == {"kaizen": 1000.0, "kaikaku": 30000.0, "kakushin": 7000.0}
    assert review.counts_by_status["new"] == 3
    assert review.previous_counts_by_kind["kaizen"] == 1 and review.change_by_kind["kaizen"] == 0
    assert review.top_by_value[0].value_at_risk == 30000.0
    assert [t["quarter"] for t in review.trend][-2:] == ["2026-Q3", "2026-Q4"]
    assert review.as_json()["quarter"] == "2026-Q4"


def test_bulk_change_is_all_or_nothing(service: BacklogService) -> None:
    a = log(service, "Receipts miss the store phone number").improvement_id
    b = log(service, "Estimated bills are not labelled as estimates").improvement_id
    service.change_status(b, "dropped", actor="x")
    with pytest.raises(InvalidTransition):
        service.bulk_change([a, b], actor="lead", status="planned")
    assert service.get_item(a).item.status == "new"
    assert service.bulk_change([a], actor="lead", status="triaged", owner="Lee") == 1
    assert service.get_item(a).item.owner == "Lee"


def test_seed_demo_then_logging_continues_the_ids(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    from improvement.demo import seed_demo

    assert seed_demo(sessions, count=300) == {"items": 300}
    result = log(service, "The chat widget's wait estimate is always two minutes")
    assert result.improvement_id == 301 and result.problem_id == 301
    assert service.list_items(ItemFilter()).total == 301
    assert len(service.get_item(301).history) == 1


def test_search_finds_any_substring_and_follows_edits(service: BacklogService) -> None:
    a = log(service, "Die Über-Rechnung zeigt keine Bestellnummer", title="Über invoices miss the PO number")
    b = log(service, 'Customers quote "ref 12" and nobody can find it', title="Reference numbers get lost")
    c = log(service, "Parcels wait at the depot for a week")

    def found(needle: str) -> set[int]:
        return {i.id for i in service.list_items(ItemFilter(text=needle), count_limit=None).items}

    assert found("ÜBER") == {a.improvement_id}  # case folding beyond ASCII
    assert found("voice") == {a.improvement_id}  # inside a word
    assert found('"ref 12"') == {b.improvement_id}  # quotes are text, not query syntax
    assert found("po") == {a.improvement_id, c.improvement_id}  # two letters: still a substring search
    assert found("depot for") == {c.improvement_id}
    assert found("week OR depot") == set()
    version = service.get_item(c.improvement_id).item.version
    service.edit_item(c.improvement_id, {"title": "Lockers instead of depots"}, actor="x", expected_version=version)
    assert found("lockers") == {c.improvement_id}
    service.merge(a.improvement_id, [b.improvement_id], actor="lead")
    assert found("reference") == set()  # merged items leave the backlog page


def test_review_keeps_currencies_apart(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    log(service, "The bill does not explain the pro-rata charge", value_at_risk="1000")
    log(service, "Gate changes are not pushed to the app", value_at_risk="250", currency="USD")
    log(service, "Receipts miss the store phone number", value_at_risk="500", currency="usd")
    review = quarterly_review(sessions, "2026-Q4")
    assert review.value_at_risk_by_currency == {"EUR": 1000.0, "USD": 750.0}
    assert review.mixes_currencies and review.value_at_risk_text() == "1,000 EUR + 750 USD"
    assert review.currencies == ["EUR", "USD"]


def test_a_form_save_is_all_or_nothing(service: BacklogService) -> None:
    item_id = log(service, "Our SMS reminder arrives after the appointment").improvement_id
    service.update_item(item_id, {}, status="planned", actor="ana", expected_version=1)
    service.update_item(item_id, {}, status="in_progress", actor="ana", expected_version=2)
    with pytest.raises(ValidationFailed, match="outcome"):
        service.update_item(item_id, {"owner": "Ben", "effort": 5}, status="done", kind="kaikaku", actor="ana")
    item = service.get_item(item_id).item
    assert (item.owner, item.effort, item.status, item.kind, item.version) == (None, 3, "in_progress", "kaizen", 3)
    saved = service.update_item(
        item_id,
        {"owner": "Ben", "outcome": "Reminders go out 48 h ahead; no-shows down 30%"},
        status="done",
        kind="kaikaku",
        actor="ana",
        expected_version=3,
    )
    assert (saved.owner, saved.status, saved.kind, saved.kind_decided_by, saved.version) == (
        "Ben",
        "done",
        "kaikaku",
        "person",
        4,
    )


def test_search_still_works_where_sqlite_has_no_trigram_index(tmp_path, offline_classifier) -> None:  # type: ignore[no-untyped-def]
    """An SQLite older than 3.34 gets no FTS table from migration 0004; search then reads the items.

    (PostgreSQL's counterpart, no pg_trgm, is in test_postgres_privileges.py.)
    """
    from sqlalchemy import text

    from db import repository
    from db.engine import make_engine, make_session_factory, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old-sqlite.db'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    service = BacklogService(sessions, classifier_provider=lambda: offline_classifier)
    log(service, "Refunds take a month across four teams")
    log(service, "The app logs people out mid-transfer")
    with sessions.begin() as session:  # what migration 0004 leaves on such an SQLite
        for event in ("insert", "update", "delete"):
            session.execute(text(f"DROP TRIGGER improvements_text_{event}"))
        session.execute(text("DROP TABLE improvements_text"))
    repository._TRIGRAM_TABLE.clear()
    assert [i.title for i in service.list_items(ItemFilter(text="REFUND")).items] == [
        "Refunds take a month across four teams"
    ]
    log(service, "Refund forms ask for the order number twice")  # writes need no FTS table either
    assert service.list_items(ItemFilter(text="refund")).total == 2
    engine.dispose()
