"""One shape per concept (issue 13): the enums are the type in the ORM, views are built from stored rows, and
logging, import and the demo make new items by one rule set. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from db.models import Improvement
from db.portfolio import inputs_of
from improvement import domain
from improvement.demo import seed_demo
from improvement.domain import DecidedBy, Kind, Status
from improvement.items import KindDecision, new_item_values
from improvement.models import ItemView
from improvement.prioritisation import DEFAULT_WEIGHTS, score
from improvement.services import BacklogService
from improvement.transfer import import_file


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def test_the_orm_hands_back_the_domain_enums_and_refuses_unknown_values(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    logged = service.log_problem({"description": "The delivery estimate shown at checkout is wrong"}, actor="ana")
    with sessions() as session:
        row = session.get(Improvement, logged.improvement_id)
        assert row is not None
        assert type(row.kind) is Kind and type(row.status) is Status and type(row.kind_decided_by) is DecidedBy
        # stored as the plain value: reports, triggers and other tools read short strings
        assert session.scalar(text("SELECT status FROM improvements WHERE id = :i"), {"i": row.id}) == "new"
    with sessions() as session, pytest.raises(StatementError):
        row = session.get(Improvement, logged.improvement_id)
        assert row is not None
        row.status = "finished"  # type: ignore[assignment]
        session.commit()
    assert service.get_item(logged.improvement_id).item.status is Status.NEW  # nothing was written


def test_views_are_built_from_stored_rows(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    logged = service.log_problem({"description": "Customers wait 40 minutes on hold to change an address"}, actor="a")
    with sessions() as session:
        view = ItemView.model_validate(session.get(Improvement, logged.improvement_id))
    assert view.text == "Customers wait 40 minutes on hold to change an address"
    assert view.created_at.tzinfo is not None and view.kind in Kind
    data = view.as_json()
    assert isinstance(data["kind"], str) and isinstance(data["created_at"], str)
    json.dumps(data)  # the CLI prints it as it is


def _rules_hold(row: Improvement) -> None:
    """What every new item satisfies, however it was made."""
    assert row.quarter == domain.quarter_of(row.created_at)
    assert (row.done_at is not None) == (row.status is Status.DONE)
    if row.kind_decided_by is DecidedBy.PERSON:
        assert not row.needs_review
    assert row.priority == score(inputs_of(row), DEFAULT_WEIGHTS).value  # the kind's formula


def test_logging_import_and_demo_make_items_by_one_rule_set(
    service: BacklogService,
    sessions,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    service.log_problem({"description": "Invoices arrive with the wrong VAT number", "kind": "kaizen"}, actor="a")
    service.log_problem({"description": "Claims pass through four departments", "value_at_risk": "900"}, actor="b")
    rows = [
        {"title": "Gate change not announced", "description": "Passengers miss flights after gate changes"},
        {"title": "Loyalty points vanish", "description": "Points expire without warning", "kind": "kaikaku"},
    ]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    import_file(service, sessions, path, actor="importer")
    seed_demo(sessions, count=300)
    with sessions() as session:
        made = session.scalars(select(Improvement)).all()
        assert len(made) == 304
        for row in made:
            _rules_hold(row)
        by_title = {r.title: r for r in made}
        assert by_title["Loyalty points vanish"].kind_decided_by is DecidedBy.PERSON
        assert by_title["Gate change not announced"].kind_decided_by is DecidedBy.MODEL


def test_the_constructor_refuses_a_field_an_item_does_not_have() -> None:
    decision = KindDecision.by_person(Kind.KAIZEN, "ana")
    with pytest.raises(TypeError, match="colour"):
        new_item_values(
            title="t", description="d", decision=decision, created_at=datetime(2026, 11, 25, tzinfo=UTC), colour="red"
        )
